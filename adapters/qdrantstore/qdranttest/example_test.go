package qdranttest_test

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"strings"

	"github.com/qdrant/go-client/qdrant"

	"twostage/adapters/qdrantstore/qdranttest"
)

// Run the stand-in and talk to it with Qdrant's own client. Euclid scores
// are distances, as in Qdrant.
func Example() {
	srv := qdranttest.New()
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	port, _ := strconv.Atoi(srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:])
	client, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: port})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx := context.Background()
	err = client.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: "points",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Euclid}),
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "points", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(0, 0), Payload: qdrant.NewValueMap(map[string]any{"color": "red"})},
		{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectors(3, 4), Payload: qdrant.NewValueMap(map[string]any{"color": "blue"})},
	}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Query(ctx, &qdrant.QueryPoints{
		CollectionName: "points", Query: qdrant.NewQuery(0, 0),
		Filter: &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatch("color", "red")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range res {
		fmt.Println(p.GetId().GetNum(), p.GetScore())
	}
	// Output:
	// 2 5
}
