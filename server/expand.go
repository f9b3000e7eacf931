package server

import (
	"fmt"
	"regexp"

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
