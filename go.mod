module twostage

go 1.26
