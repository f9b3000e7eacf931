package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/spec"
)

// brokenDriver is a memstore whose check reports two missing documents and
// repairs them when asked.
type brokenDriver struct{ *memstore.Driver }

// registerBroken registers the broken-test scheme once per process (the
// registry has no way back, as database/sql's has none).
var registerBroken sync.Once

func (brokenDriver) Check(ctx context.Context, opts twostage.CheckOptions) (twostage.CheckReport, error) {
	rep := twostage.CheckReport{Checked: 5}
	rep.Missing.Add("a", opts.FirstIDsOrDefault())
	rep.Missing.Add("b", opts.FirstIDsOrDefault())
	if opts.Repair {
		rep.Repaired = 2
	}
	return rep, nil
}

func TestCheckCommand(t *testing.T) {
	registerBroken.Do(func() {
		err := spec.RegisterStore("broken-test", "a store whose check finds two documents missing", func(ctx context.Context, _ string, info twostage.Info) (*twostage.Store, error) {
			d, err := memstore.NewDriver(2, twostage.Cosine)
			return twostage.NewStore(brokenDriver{d}), err
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"clean mem store", []string{"check", "--store", "mem:", "--dim", "3"}, 0, "checked 0 documents", ""},
		{"problems", []string{"check", "--store", "broken-test:"}, 1, "missing:   2 (a, b)", "2 problems found (run with --repair"},
		{"first 1", []string{"check", "--store", "broken-test:", "--first", "1"}, 1, "missing:   2 (a, ...)", ""},
		{"repaired", []string{"check", "--store", "broken-test:", "--repair"}, 0, "repaired:  2", ""},
		{"bad flag", []string{"check", "--workers", "-1"}, 2, "", "must not be negative"},
		{"argument", []string{"check", "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, "", tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					tt.args, code, out, errOut, tt.code, tt.out, tt.err)
			}
		})
	}
	code, out, _ := cli(t, "", "check", "--store", "broken-test:", "--json")
	var rep struct {
		Checked int
		Missing struct {
			Count int
			First []string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Checked != 5 || rep.Missing.Count != 2 || strings.Join(rep.Missing.First, ",") != "a,b" {
		t.Errorf("check --json: exit %d, %q (%v); want exit 1, 5 checked, missing a and b", code, out, err)
	}
}

// TestCheckUsesRecordedSettings: check opens an embedded store with the
// dimension and metric it recorded; it opened every store as cosine (a
// store built with --metric l2 failed) and a mem:FILE without --dim failed
// with "dimension 0".
func TestCheckUsesRecordedSettings(t *testing.T) {
	docs := `{"id":"a","text":"hello world"}` + "\n" + `{"id":"b","text":"goodbye world"}`
	for _, metric := range []string{"cosine", "l2"} {
		store := "mem:" + filepath.Join(t.TempDir(), "d.snap")
		if code, _, stderr := cli(t, docs, "index", "--store", store, "--metric", metric); code != 0 {
			t.Fatalf("index: exit %d %s", code, stderr)
		}
		if code, out, stderr := cli(t, "", "check", "--store", store); code != 0 || !strings.Contains(out, "checked 2 documents") {
			t.Errorf("check %s store: exit %d, stdout %q, stderr %q; want 2 checked", metric, code, out, stderr)
		}
	}
}
