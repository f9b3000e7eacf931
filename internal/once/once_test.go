package once

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDo: concurrent callers of a key share one build and its result, an
// error included; other keys build on their own.
func TestDo(t *testing.T) {
	var m Map[string, int]
	var builds atomic.Int32
	errBad := errors.New("bad")
	build := func(v int, err error) func() (int, error) {
		return func() (int, error) {
			builds.Add(1)
			return v, err
		}
	}
	keys := []struct {
		key     string
		want    int
		wantErr error
	}{{"a", 1, nil}, {"b", 2, nil}, {"bad", 0, errBad}}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range keys {
				if v, err := m.Do(k.key, build(k.want, k.wantErr)); v != k.want || !errors.Is(err, k.wantErr) {
					t.Errorf("%s: %d, %v; want %d, %v", k.key, v, err, k.want, k.wantErr)
				}
			}
		}()
	}
	wg.Wait()
	if v, err := m.Do("a", build(-1, nil)); v != 1 || err != nil {
		t.Errorf("a again: %d, %v; want the first build's 1", v, err)
	}
	if n := builds.Load(); n != 3 {
		t.Errorf("%d builds, want 3 (one a key)", n)
	}
	got := m.Values()
	slices.Sort(got)
	if want := []int{1, 2}; !slices.Equal(got, want) {
		t.Errorf("Values %v, want %v (the failed build left out)", got, want)
	}
}

// TestValuesWaits: Values waits for a build still running.
func TestValuesWaits(t *testing.T) {
	var m Map[int, string]
	started, release := make(chan struct{}), make(chan struct{})
	go m.Do(1, func() (string, error) {
		close(started)
		<-release
		return "one", nil
	})
	<-started
	done := make(chan []string)
	go func() { done <- m.Values() }()
	select {
	case v := <-done:
		t.Fatalf("Values returned %v while the build ran", v)
	case <-time.After(50 * time.Millisecond): // time for Values to have returned, had it not waited
	}
	close(release)
	if v := <-done; !slices.Equal(v, []string{"one"}) {
		t.Errorf("Values %v, want [one]", v)
	}
}
