package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
)

// brokenDriver is a memstore whose check reports two missing documents and
// repairs them when asked.
type brokenDriver struct{ *memstore.Driver }

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
	registerStore("broken-test", "a store whose check finds two documents missing", func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
		d, err := memstore.NewDriver(2, twostage.Cosine)
		return twostage.NewStore(brokenDriver{d}), err
	})
	t.Cleanup(func() { delete(storeSchemes, "broken-test") })
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
			code, out, errOut := runCLI(t, "", tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					tt.args, code, out, errOut, tt.code, tt.out, tt.err)
			}
		})
	}
	code, out, _ := runCLI(t, "", "check", "--store", "broken-test:", "--json")
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
