package server

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"twostage"
)

// expandNode replaces ${NAME} references inside the scalar values of a
// parsed YAML tree (mapping values and sequence items; never keys), so an
// environment variable can only ever become (part of) one value: a value
// holding newlines, colons or brackets stays a string and cannot add keys.
// expand rewrites one scalar's text.
func expandNode(n *yaml.Node, expand func(string) (string, error)) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := expandNode(c, expand); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := expandNode(n.Content[i], expand); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		v, err := expand(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if v != n.Value {
			n.Value = v
			if n.Style == 0 {
				// A plain scalar is typed by its new text ("${PORT}" can
				// be a number); the encoder still quotes what must be.
				n.Tag = ""
			}
		}
	}
	return nil
}

// expandYAML parses data, expands the references in its scalar values and
// writes it back, for a strict decoder to read.
func expandYAML(data []byte, expand func(string) (string, error)) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("server: config: %v: %w", err, twostage.ErrInvalidInput)
	}
	if doc.Kind == 0 {
		return data, nil // empty document
	}
	if err := expandNode(&doc, expand); err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("server: config: %v: %w", err, twostage.ErrInvalidInput)
	}
	return out, nil
}
