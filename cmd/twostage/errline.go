package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// errLine is the one line printed for a failed command: "twostage CMD: "
// and the error. The library's own prefix "twostage: " is dropped, since the
// command's prefix already names the program (the library and the program
// share the name), and so is a repeat of the command's name right after it:
// "twostage search: search: ..." says search once.
func errLine(cmd string, err error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+errUsage.Error())
	msg = strings.TrimPrefix(msg, "twostage: ")
	msg = strings.TrimPrefix(msg, cmd+": ")
	msg = strings.ReplaceAll(msg, "\n", "; ")
	return fmt.Sprintf("twostage %s: %s", cmd, msg)
}

// jsonError rewords encoding/json's errors for people: JSON kinds (string,
// number, object) instead of Go type names, and no "json: " prefix.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := "the value"
		if te.Field != "" {
			where = fmt.Sprintf("field %q", te.Field)
		}
		return fmt.Errorf("%s: got a JSON %s, want %s", where, te.Value, jsonKind(te.Type))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names the JSON kind that decodes into t.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}
