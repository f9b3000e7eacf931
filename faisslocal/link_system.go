//go:build faiss && faiss_system

package faisslocal

// With the faiss_system tag FAISS is linked from the system's libfaiss.a,
// its code placed wherever the link puts it (see link.go).

/*
#cgo LDFLAGS: -lfaiss -lopenblas -llapack -fopenmp -lgomp -lstdc++ -lm
*/
import "C"
