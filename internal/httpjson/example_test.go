package httpjson_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"twostage/internal/httpjson"
)

func ExamplePost() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"echo":%s,"auth":%q}`, body, r.Header.Get("Authorization"))
	}))
	defer srv.Close()

	resp, err := httpjson.Post(context.Background(), srv.Client(), httpjson.Request{
		URL: srv.URL, Body: []byte(`{"query":"q"}`), APIKey: "secret",
		Timeout: 10 * time.Second, MaxResponse: 1 << 20,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, string(resp.Body))
	// Output: 200 {"echo":{"query":"q"},"auth":"Bearer secret"}
}
