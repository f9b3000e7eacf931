package server_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/server"
)

// TestShutdownDrain: once shutdown begins /readyz answers 503 while the
// listener still accepts and requests are still served, for shutdown_drain;
// then the listener closes and Serve returns.
func TestShutdownDrain(t *testing.T) {
	const drain = 1500 * time.Millisecond
	cfg, err := server.ParseConfig([]byte(baseConfig+"shutdown_drain: 1500ms\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShutdownDrain != drain {
		t.Fatalf("shutdown_drain parsed as %v", cfg.ShutdownDrain)
	}
	_, ln, stop, served := serveLoopback(t, cfg, nil)
	url := "http://" + ln.Addr().String()
	fresh := func() *http.Client { // a new connection each time
		return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if r := doWith(t, fresh(), "GET", url+"/readyz", "", ""); r.status != 200 {
		t.Fatalf("readyz before shutdown: %d %s", r.status, r.body)
	}

	began := time.Now()
	stop() // SIGTERM
	deadline := began.Add(drain / 2)
	for {
		r := doWith(t, fresh(), "GET", url+"/readyz", "", "")
		if r.status == 503 && strings.Contains(string(r.body), "shutting down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz %d %s half the drain after shutdown began, want 503", r.status, r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Still serving: a new connection's request succeeds.
	if r := doWith(t, fresh(), "POST", url+"/v2/rerank", `{"query":"red","documents":["red","blue"]}`, ""); r.status != 200 {
		t.Errorf("rerank during the drain: %d %s", r.status, r.body)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) during the drain", err)
	default:
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if took := time.Since(began); took < drain {
		t.Errorf("Serve returned %v after shutdown began, before the %v drain", took, drain)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still accepting after Serve returned")
	}
}

func TestShutdownDrainConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       time.Duration
		bad        bool
	}{
		{"default", baseConfig, nil, 5 * time.Second, false},
		{"zero", baseConfig + "shutdown_drain: 0s\n", nil, 0, false},
		{"file", baseConfig + "shutdown_drain: 250ms\n", nil, 250 * time.Millisecond, false},
		{"environment", baseConfig + "shutdown_drain: 250ms\n", map[string]string{"TWOSTAGE_SHUTDOWN_DRAIN": "2s"}, 2 * time.Second, false},
		{"negative", baseConfig + "shutdown_drain: -1s\n", nil, 0, true},
		{"bad environment", baseConfig, map[string]string{"TWOSTAGE_SHUTDOWN_DRAIN": "soon"}, 0, true},
	}
	for _, tt := range tests {
		cfg, err := server.ParseConfig([]byte(tt.yaml), func(k string) string { return tt.env[k] })
		switch {
		case tt.bad && !errors.Is(err, twostage.ErrInvalidInput):
			t.Errorf("%s: err %v, want ErrInvalidInput", tt.name, err)
		case !tt.bad && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !tt.bad && cfg.ShutdownDrain != tt.want:
			t.Errorf("%s: drain %v, want %v", tt.name, cfg.ShutdownDrain, tt.want)
		}
	}
}
