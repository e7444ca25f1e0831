// yamljson reads YAML streams exactly the way `kubectl apply -f` reads a manifest file and
// prints what kubectl gets from each document. It is the reference that berth-yaml's
// differential test (crates/berth-yaml/tests/kubectl_differential.rs) compares against.
//
// Usage: yamljson [FILE...]   (no FILE: standard input)
//
// The reading is kubectl's own code, not a copy. As kubectl's FileVisitor does, the bytes first
// go through a UTF-8 decoder with BOM override (a UTF-8 BOM is dropped, UTF-16 with a BOM is
// converted, and bytes that are not UTF-8 become U+FFFD). Then k8s.io/apimachinery's YAMLOrJSONDecoder
// (a stream that starts with `{` is tried as JSON first; YAML is split into documents on
// `---` lines by its YAMLReader) decoding each document into a raw JSON message through
// sigs.k8s.io/yaml (go-yaml v2, YAML 1.1), which is what kubectl's resource builder does
// with its runtime.RawExtension. As kubectl's StreamVisitor does, a document whose JSON is
// empty or `null` (an empty document, only comments, `~`) is skipped and prints nothing;
// berth-yaml skips such documents too, on purpose (they hold no object to apply).
//
// Output, one JSON object per line and per document, in stream order:
//
//	{"file":"a.yaml","ok":true,"json":<the document as JSON>}
//	{"file":"a.yaml","ok":false,"error":"<kubectl's error text>"}
//
// The JSON is written so that its numbers say what the API server reads (k8s.io/apimachinery's
// number conversion: an integer that fits int64 is an integer, anything else a float): such
// integers are written as integers, every other number in exponent form (`1.5` as `1.5e+00`),
// so that a reader cannot take a float for an integer. Objects have their keys sorted.
//
// kubectl stops at a file's first error; this program goes on with the next document (the
// decoder has already consumed the bad one), so that every document gets a verdict, except
// after a syntax error in a JSON stream, which the decoder cannot get past. A file that cannot
// be read exits with status 2.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// kubectl's resource builder reads files with this buffer size (its StreamVisitor).
const sniffSize = 4096

// maxErrors bounds the output for an input that keeps failing without consuming anything.
const maxErrors = 10000

type verdict struct {
	File  string          `json:"file"`
	OK    bool            `json:"ok"`
	JSON  json.RawMessage `json:"json,omitempty"`
	Error string          `json:"error,omitempty"`
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	files := os.Args[1:]
	if len(files) == 0 {
		files = []string{"-"}
	}
	for _, name := range files {
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				fmt.Fprintln(os.Stderr, "yamljson:", err)
				os.Exit(2)
			}
			defer f.Close()
			r = f
		}
		r = transform.NewReader(r, unicode.BOMOverride(unicode.UTF8.NewDecoder()))
		if err := read(name, r, enc); err != nil {
			fmt.Fprintln(os.Stderr, "yamljson:", err)
			os.Exit(2)
		}
	}
}

func read(name string, r io.Reader, enc *json.Encoder) error {
	d := yaml.NewYAMLOrJSONDecoder(r, sniffSize)
	errs := 0
	for {
		var raw json.RawMessage
		err := d.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return nil
		}
		v := verdict{File: name}
		var jsonErr *json.SyntaxError
		if err != nil {
			v.Error = err.Error()
			errs++
		} else {
			raw = bytes.TrimSpace(raw)
			if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
				continue
			}
			canonical, err := canonicalNumbers(raw)
			if err != nil {
				return fmt.Errorf("%s: kubectl's decoder returned invalid JSON: %w", name, err)
			}
			v.OK = true
			v.JSON = canonical
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
		if errors.As(err, &jsonErr) {
			// A JSON stream cannot be resumed after a syntax error (kubectl stops here too).
			return nil
		}
		if errs >= maxErrors {
			return fmt.Errorf("%s: more than %d errors, giving up", name, maxErrors)
		}
	}
}

// canonicalNumbers rewrites a JSON text's numbers as described in the package docs.
func canonicalNumbers(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(canonical(v))
}

func canonical(v interface{}) interface{} {
	switch v := v.(type) {
	case map[string]interface{}:
		for k, e := range v {
			v[k] = canonical(e)
		}
	case []interface{}:
		for i, e := range v {
			v[i] = canonical(e)
		}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if f, err := v.Float64(); err == nil {
			return json.Number(strconv.FormatFloat(f, 'e', -1, 64))
		}
	}
	return v
}
