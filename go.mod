module twostage

go 1.26

require (
	github.com/yalue/onnxruntime_go v1.27.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
