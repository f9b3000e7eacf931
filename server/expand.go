package server

import (
	"fmt"
	"regexp"
	"strings"

	"twostage"
)

// varRef matches ${NAME} and ${NAME:-default}.
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandVars replaces each ${NAME} in s with the environment variable NAME
// (read with getenv) and each ${NAME:-default} with NAME, or default when
// NAME is unset or empty. A ${NAME} whose variable is unset or empty is an
// error naming it: an empty value would silently turn "${DATA_DIR}/docs"
// into "/docs". It works on one scalar string (a line of the file today, a
// parsed YAML value tomorrow), so callers add where the string came from.
func expandVars(s string, getenv func(string) string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		if v := getenv(sub[1]); v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return m
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("${%s} is unset or empty (set it, or write ${%s:-DEFAULT}): %w", missing[0], missing[0], twostage.ErrInvalidInput)
	}
	return out, nil
}

// expandFile expands the variable references of a config file line by
// line, naming the line of a failure. Comment lines are left as they are.
func expandFile(data []byte, getenv func(string) string) ([]byte, error) {
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "#") || !strings.Contains(l, "${") {
			continue
		}
		x, err := expandVars(l, getenv)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		lines[i] = x
	}
	return []byte(strings.Join(lines, "")), nil
}
