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
// then the listener closes and Serve returns. The drain's clock is the
// test's (server.SetDrainClock), so the checks made during the drain cannot
// run late on a loaded machine; "real clock" checks the timer itself with a
// lower bound only.
func TestShutdownDrain(t *testing.T) {
	const drain = 1500 * time.Millisecond
	cfg, err := server.ParseConfig([]byte(baseConfig+"shutdown_drain: 1500ms\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShutdownDrain != drain {
		t.Fatalf("shutdown_drain parsed as %v", cfg.ShutdownDrain)
	}
	srv, ln, stop, served := serveLoopback(t, cfg, nil)
	drainBegan := make(chan time.Duration, 1)
	endDrain := make(chan time.Time)
	server.SetDrainClock(srv, func(d time.Duration) <-chan time.Time {
		drainBegan <- d
		return endDrain
	})
	url := "http://" + ln.Addr().String()
	fresh := func() *http.Client { // a new connection each time
		return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if r := doWith(t, fresh(), "GET", url+"/readyz", "", ""); r.status != 200 {
		t.Fatalf("readyz before shutdown: %d %s", r.status, r.body)
	}

	stop() // SIGTERM
	select {
	case d := <-drainBegan:
		if d != drain {
			t.Errorf("the drain waits %v, want the configured %v", d, drain)
		}
	case err := <-served:
		t.Fatalf("Serve returned (%v) without draining", err)
	}
	// The drain has begun and lasts until endDrain.
	if r := doWith(t, fresh(), "GET", url+"/readyz", "", ""); r.status != 503 || !strings.Contains(string(r.body), "shutting down") {
		t.Errorf("readyz during the drain: %d %s, want 503 shutting down", r.status, r.body)
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
	close(endDrain)
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still accepting after Serve returned")
	}

	t.Run("real clock", func(t *testing.T) {
		const drain = 200 * time.Millisecond
		cfg, err := server.ParseConfig([]byte(baseConfig+"shutdown_drain: 200ms\n"), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		_, _, stop, served := serveLoopback(t, cfg, nil)
		began := time.Now()
		stop()
		if err := <-served; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if took := time.Since(began); took < drain {
			t.Errorf("Serve returned %v after shutdown began, before the %v drain", took, drain)
		}
	})
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
