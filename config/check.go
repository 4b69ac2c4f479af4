package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// checkTypes walks the YAML tree along the Go type it will be decoded into
// and reports unknown keys and values of the wrong type with their line and
// key path. It normalises numbers and booleans written as strings (e.g. from
// ${ENV}) so that decoding them succeeds.
func checkTypes(path string, n *yaml.Node, t reflect.Type, key string) []error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // the key keeps its default
	}
	bad := func(format string, args ...any) []error {
		return []error{&Error{File: path, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)}}
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return bad("expected a duration (e.g. 250ms)")
		}
		if _, err := parseDuration(n.Value); err != nil {
			return bad("%q is not a duration (e.g. 250ms)", n.Value)
		}
		return nil
	case t == byteSizeType:
		if n.Kind != yaml.ScalarNode {
			return bad("expected a size (e.g. 16MiB)")
		}
		if _, err := parseByteSize(n.Value); err != nil {
			return bad("%q is not a size (e.g. 1024, 64KiB, 16MiB, 1GiB)", n.Value)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("expected a mapping of keys to values")
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				errs = append(errs, &Error{File: path, Line: k.Line, Key: join(key, k.Value), Msg: "unknown key"})
				continue
			}
			errs = append(errs, checkTypes(path, v, f.Type, join(key, k.Value))...)
		}
		return errs
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("expected a list")
		}
		var errs []error
		for i, item := range n.Content {
			errs = append(errs, checkTypes(path, item, t.Elem(), key+"["+strconv.Itoa(i)+"]")...)
		}
		return errs
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return bad("expected a mapping")
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, checkTypes(path, n.Content[i+1], t.Elem(), join(key, n.Content[i].Value))...)
		}
		return errs
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad("expected a string")
		}
		return nil
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode {
			return bad("expected an integer")
		}
		if _, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
			return bad("%q is not an integer", n.Value)
		}
		n.Tag, n.Style = "!!int", 0
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || (n.Value != "true" && n.Value != "false") {
			return bad("%q is not true or false", n.Value)
		}
		n.Tag, n.Style = "!!bool", 0
		return nil
	}
	return bad("unsupported type %s", t) // a schema type this walker does not know yet
}

// fieldByKey finds the struct field whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
