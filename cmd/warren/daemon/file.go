package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// readFile applies the YAML config file at path over c: only the keys present change anything.
// Unknown keys are errors naming the key and its line, so a typo never goes unnoticed.
func (c *config) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := c.applyYAML(data); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func (c *config) applyYAML(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return errors.New("want a single YAML document")
	}
	if err := checkKeys(&doc, reflect.TypeFor[config](), ""); err != nil {
		return err
	}
	return doc.Decode(c)
}

// checkKeys walks the mappings of n against the yaml tags of t's fields, recursing into struct fields.
// Values of the wrong shape are left to the decoder, which reports them with their line.
func checkKeys(n *yaml.Node, t reflect.Type, prefix string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, child := range n.Content {
			if err := checkKeys(child, t, prefix); err != nil {
				return err
			}
		}
		return nil
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		return checkKeys(n.Alias, t, prefix)
	case yaml.MappingNode:
	default:
		return nil
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("line %d: unknown key %q", k.Line, prefix+k.Value)
		}
		if ft.Kind() == reflect.Struct {
			if err := checkKeys(v, ft, prefix+k.Value+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnmarshalYAML reads a duration written as a string such as "30s".
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 30s or 1m30s", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q: %w", n.Line, n.Value, err)
	}
	*d = v
	return nil
}
