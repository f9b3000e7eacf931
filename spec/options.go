package spec

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"twostage/hub"
)

// options splits "scheme:TARGET,key=value,..." into TARGET and the
// options, rejecting keys not in allowed.
func options(spec string, allowed ...string) (string, map[string]string, error) {
	rest := strings.TrimPrefix(spec, SchemeOf(spec)+":")
	parts := strings.Split(rest, ",")
	target, opts := parts[0], map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "", nil, badf("%q: option %q is not key=value", spec, p)
		}
		if !slices.Contains(allowed, k) {
			return "", nil, badf("%q: unknown option %q (known: %s)", spec, k, strings.Join(allowed, ", "))
		}
		opts[k] = v
	}
	if target == "" {
		return "", nil, badf("%q: missing %s target", spec, SchemeOf(spec))
	}
	return target, opts, nil
}

// intOpt reads opts[key] as a non-negative number, 0 when absent.
func intOpt(spec string, opts map[string]string, key string) (int, error) {
	v, ok := opts[key]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badf("%q: %s=%q is not a non-negative number", spec, key, v)
	}
	return n, nil
}

// ModelDir resolves the directory argument of a model spec: an existing
// directory stays as it is; a pulled model's name (zerank-2,
// ORG/NAME[@REV]) becomes its directory in the cache, found without any
// request; a name not pulled is an error wrapping hub.ErrNotPulled saying
// to run `twostage pull NAME`. family narrows the lookup ("" for any).
func ModelDir(arg, family string) (string, error) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		return arg, nil
	}
	if !hub.IsRef(arg) {
		return arg, nil
	}
	c, err := hub.New(&hub.Options{Offline: true})
	if err != nil {
		return "", err
	}
	m, err := c.Lookup(arg, family)
	if err != nil {
		if r, _ := hub.ParseRef(arg); r.Family == "" && errors.Is(err, hub.ErrNotPulled) {
			return "", fmt.Errorf("spec: %s is neither a directory nor a pulled model: %w", arg, err)
		}
		return "", err
	}
	return m.Dir, nil
}

// pulledSpec turns a bare model name given as a stage spec ("zerank-2",
// "all-MiniLM-L6-v2,batch=8", "ORG/NAME@REV") into "onnx:NAME...", whose
// opener resolves the name with ModelDir; any other spec is returned as it
// is.
func pulledSpec(spec string, registered func(scheme string) bool) string {
	name, _, _ := strings.Cut(spec, ",")
	if registered(SchemeOf(spec)) || !hub.IsRef(name) {
		return spec
	}
	return "onnx:" + spec
}

// serverSpec splits "SCHEME://HOST:PORT/NAME?k=v" and checks the option
// keys: each known and given once (checked in sorted order, so the error
// names the same key every time).
func serverSpec(scheme, spec, what string, keys ...string) (addr, name string, q url.Values, err error) {
	rest := Arg(spec)
	rest, query, _ := strings.Cut(rest, "?")
	addr, name, _ = strings.Cut(rest, "/")
	if addr == "" || name == "" || strings.Contains(name, "/") {
		return "", "", nil, badf("%s store %q: want %s://HOST:PORT/%s", scheme, spec, scheme, strings.ToUpper(what))
	}
	q, err = url.ParseQuery(query)
	if err != nil {
		return "", "", nil, badf("%s store options %q: %v", scheme, query, err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(keys, k) {
			return "", "", nil, badf("%s store: unknown option %q (known: %s)", scheme, k, strings.Join(keys, ", "))
		}
		if len(q[k]) > 1 {
			return "", "", nil, badf("%s store: option %q given twice", scheme, k)
		}
	}
	return addr, name, q, nil
}

// boolOption reads a boolean store option of serverSpec's q: "1" or "true"
// is true, absent, "0" or "false" false; anything else is ErrBadSpec.
func boolOption(scheme string, q url.Values, key string) (bool, error) {
	switch v := q.Get(key); v {
	case "1", "true":
		return true, nil
	case "", "0", "false":
		return false, nil
	default:
		return false, badf("%s store option %s=%q: want 1, true, 0 or false", scheme, key, v)
	}
}
