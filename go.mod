module twostage

go 1.26

require (
	github.com/qdrant/go-client v1.16.2 // indirect
	github.com/weaviate/weaviate-go-client/v4 v4.16.1 // indirect
	github.com/yalue/onnxruntime_go v1.27.0 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
