// Command gen generates protocol/composites_gen.go from the normative AMQP 1.0
// type definitions (transport, messaging, security and transactions XML).
//
// Run it through `go generate ./protocol` (see protocol/doc.go). Flags let it
// run from anywhere:
//
//	go run ./protocol/gen -spec protocol/gen/spec -out protocol/composites_gen.go
//
// Everything the XML cannot express — Go names that differ from the mechanical
// conversion, fields that must tell "absent" from "zero" (Opt[T]), the Go type
// behind a `type="*"` field, defaults the bare XML omits, the attach target that
// may be a transaction coordinator — lives in the tables at the top of this
// file, so the special cases are visible in one place.
package main

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// specFiles are read in this order; composites are emitted in document order.
var specFiles = []string{"transport", "messaging", "security", "transactions"}

// specSections names the section of the AMQP 1.0 specification defining each
// generated composite, for the doc comments.
var specSections = map[string]string{
	"open": "2.7.1", "begin": "2.7.2", "attach": "2.7.3", "flow": "2.7.4", "transfer": "2.7.5",
	"disposition": "2.7.6", "detach": "2.7.7", "end": "2.7.8", "close": "2.7.9", "error": "2.8.14",
	"header": "3.2.1", "properties": "3.2.4",
	"received": "3.4.1", "accepted": "3.4.2", "rejected": "3.4.3", "released": "3.4.4", "modified": "3.4.5",
	"source": "3.5.3", "target": "3.5.4",
	"sasl-mechanisms": "5.3.3.1", "sasl-init": "5.3.3.2", "sasl-challenge": "5.3.3.3",
	"sasl-response": "5.3.3.4", "sasl-outcome": "5.3.3.5",
	"coordinator": "4.5.1", "declare": "4.5.2", "discharge": "4.5.3", "declared": "4.5.5",
	"transactional-state": "4.5.6",
}

// skipComposites are composite types with no fields that nothing in Warren
// encodes as a struct (the lifetime policies of spec 3.5.10); their
// descriptors are still emitted as constants.
var skipComposites = map[string]bool{
	"delete-on-close": true, "delete-on-no-links": true,
	"delete-on-no-messages": true, "delete-on-no-links-or-messages": true,
}

// fieldOverride adjusts what the generator derives from the XML for one field,
// keyed "composite.field".
type fieldOverride struct {
	name      string // Go field name, when the mechanical conversion is not the contract's name
	kind      string // key into kinds, when the XML type does not determine it
	opt       bool   // wrap in Opt[T]: the field is optional, has no default, and null means something
	def       string // default value, when the bare XML omits the one the full specification gives
	zeroIsDef bool   // the Go zero value is not a legal value, so it also encodes as null (the default)
}

var overrides = map[string]fieldOverride{
	"open.max-frame-size": {zeroIsDef: true}, // 0 is below MIN-MAX-FRAME-SIZE (512), never legal
	"open.idle-time-out":  {name: "IdleTimeout"},

	"begin.remote-channel":          {opt: true},
	"attach.target":                 {kind: "attachTarget"}, // a Target or a Coordinator (spec 4.5.1)
	"attach.initial-delivery-count": {opt: true},

	"flow.next-incoming-id": {opt: true},
	"flow.handle":           {opt: true},
	"flow.delivery-count":   {opt: true},
	"flow.link-credit":      {opt: true},
	"flow.available":        {opt: true},

	"transfer.delivery-id":     {opt: true},
	"transfer.delivery-tag":    {kind: "binaryAlias"}, // zero-alloc decode: aliases the frame body
	"transfer.message-format":  {opt: true},
	"transfer.settled":         {opt: true},
	"transfer.rcv-settle-mode": {opt: true},

	"disposition.last": {opt: true},

	// The bare XML drops the defaults of the header; spec 3.2.1 gives them.
	"header.durable":        {def: "false"},
	"header.priority":       {def: "4"},
	"header.ttl":            {name: "TTL", opt: true},
	"header.first-acquirer": {def: "false"},
	"header.delivery-count": {def: "0"},

	"properties.message-id":           {kind: "any"},
	"properties.to":                   {kind: "string", opt: true},
	"properties.subject":              {opt: true},
	"properties.reply-to":             {kind: "string", opt: true},
	"properties.correlation-id":       {kind: "any"},
	"properties.absolute-expiry-time": {opt: true},
	"properties.creation-time":        {opt: true},
	"properties.group-id":             {opt: true},
	"properties.group-sequence":       {opt: true},
	"properties.reply-to-group-id":    {opt: true},

	"source.address":       {kind: "string", opt: true}, // address is "*": address-string in practice
	"source.expiry-policy": {zeroIsDef: true},           // "" is not a policy
	"target.address":       {kind: "string", opt: true},
	"target.expiry-policy": {zeroIsDef: true},

	"sasl-mechanisms.sasl-server-mechanisms": {name: "Mechanisms"},

	"declare.global-id":          {kind: "any"},
	"discharge.txn-id":           {kind: "binary"}, // txn-id is provided only by transaction-id (binary)
	"declared.txn-id":            {kind: "binary"},
	"transactional-state.txn-id": {kind: "binary"},
}

// requiresKinds maps the `requires` archetype of a `type="*"` field to a kind.
var requiresKinds = map[string]string{
	"source":         "source",
	"target":         "target",
	"delivery-state": "deliveryState",
	"outcome":        "deliveryState",
}

// typeKinds maps XML type names (primitive or restricted) to kinds.
var typeKinds = map[string]string{
	"string": "string", "symbol": "symbol", "binary": "binary", "boolean": "bool",
	"ubyte": "ubyte", "ushort": "ushort", "uint": "uint", "ulong": "ulong",
	"timestamp": "timestamp", "map": "map", "error": "error",
	"role": "role", "sender-settle-mode": "sndSettleMode", "receiver-settle-mode": "rcvSettleMode",
	"sasl-code": "saslCode", "terminus-durability": "durability", "terminus-expiry-policy": "symbol",
}

// choiceConsts names the Go constant for a restricted type's choice, used when
// a default is given as a choice name.
var choiceConsts = map[string]string{
	"sender-settle-mode:mixed":           "SndMixed",
	"receiver-settle-mode:first":         "RcvFirst",
	"terminus-durability:none":           "DurabilityNone",
	"terminus-expiry-policy:session-end": "ExpiryPolicySessionEnd",
}

// initialisms are written in capitals in Go names.
var initialisms = map[string]string{"id": "ID", "ttl": "TTL", "sasl": "SASL"}

// kind describes how one Go field type is decoded, encoded and recognised as
// null. In the templates "$" stands for the field expression (x.Name).
type kind struct {
	goType    string
	decode    string // statement(s) assigning $ and err
	encode    string // statement appending $ to b; may assign err when encErr
	encErr    bool   // encode can fail
	null      string // condition under which $ is encoded as null (for non-Opt fields)
	zero      string // Go zero literal, for zeroIsDef
	needsTime bool
}

var kinds = map[string]kind{
	"string":        {goType: "string", decode: "$, err = d.ReadString()", encode: "b = AppendString(b, $)", null: `$ == ""`, zero: `""`},
	"symbol":        {goType: "Symbol", decode: "$, err = d.ReadSymbol()", encode: "b = AppendSymbol(b, $)", null: `$ == ""`, zero: `""`},
	"symbols":       {goType: "[]Symbol", decode: "$, err = d.ReadSymbolArray()", encode: "b = AppendSymbolArray(b, $)", null: "len($) == 0"},
	"binary":        {goType: "[]byte", decode: "$, err = d.ReadBinary()", encode: "b = AppendBinary(b, $)", null: "$ == nil"},
	"binaryAlias":   {goType: "[]byte", decode: "$, err = d.ReadBinaryAlias()", encode: "b = AppendBinary(b, $)", null: "$ == nil"},
	"bool":          {goType: "bool", decode: "$, err = d.ReadBool()", encode: "b = AppendBool(b, $)", null: "!$"},
	"ubyte":         {goType: "uint8", decode: "$, err = d.ReadUbyte()", encode: "b = AppendUbyte(b, $)", null: "$ == 0", zero: "0"},
	"ushort":        {goType: "uint16", decode: "$, err = d.ReadUshort()", encode: "b = AppendUshort(b, $)", null: "$ == 0", zero: "0"},
	"uint":          {goType: "uint32", decode: "$, err = d.ReadUint()", encode: "b = AppendUint(b, $)", null: "$ == 0", zero: "0"},
	"ulong":         {goType: "uint64", decode: "$, err = d.ReadUlong()", encode: "b = AppendUlong(b, $)", null: "$ == 0", zero: "0"},
	"timestamp":     {goType: "time.Time", decode: "$, err = d.ReadTimestamp()", encode: "b = AppendTimestamp(b, $)", null: "$.IsZero()", needsTime: true},
	"map":           {goType: "Map", decode: "$, err = d.ReadMap()", encode: "b, err = AppendMap(b, $)", encErr: true, null: "len($) == 0"},
	"any":           {goType: "any", decode: "$, err = d.ReadAny()", encode: "b, err = AppendAny(b, $)", encErr: true, null: "$ == nil"},
	"role":          {goType: "Role", decode: "$, err = readRole(d)", encode: "b = AppendBool(b, bool($))", null: "false"},
	"sndSettleMode": {goType: "SenderSettleMode", decode: "$, err = readSenderSettleMode(d)", encode: "b = AppendUbyte(b, uint8($))", null: "$ == 0", zero: "0"},
	"rcvSettleMode": {goType: "ReceiverSettleMode", decode: "$, err = readReceiverSettleMode(d)", encode: "b = AppendUbyte(b, uint8($))", null: "$ == 0", zero: "0"},
	"saslCode":      {goType: "SASLCode", decode: "$, err = readSASLCode(d)", encode: "b = AppendUbyte(b, uint8($))", null: "$ == 0", zero: "0"},
	"durability":    {goType: "TerminusDurability", decode: "$, err = readTerminusDurability(d)", encode: "b = AppendUint(b, uint32($))", null: "$ == 0", zero: "0"},
	"error":         {goType: "*Error", decode: "$ = new(Error)\nerr = $.Decode(d)", encode: "b, err = $.Append(b)", encErr: true, null: "$ == nil"},
	"source":        {goType: "*Source", decode: "$ = new(Source)\nerr = $.Decode(d)", encode: "b, err = $.Append(b)", encErr: true, null: "$ == nil"},
	"target":        {goType: "*Target", decode: "$ = new(Target)\nerr = $.Decode(d)", encode: "b, err = $.Append(b)", encErr: true, null: "$ == nil"},
	"deliveryState": {goType: "DeliveryState", decode: "$, err = readDeliveryState(d)", encode: "b, err = $.Append(b)", encErr: true, null: "$ == nil"},
	// attachTarget is the special case of attach.target: two Go fields.
	"attachTarget": {decode: "x.Target, x.Coordinator, err = readAttachTarget(d)", encode: "b, err = appendAttachTarget(b, x.Target, x.Coordinator)", encErr: true, null: "x.Target == nil && x.Coordinator == nil"},
}

// ---- XML model ----

type xmlDoc struct {
	Sections []struct {
		Types []xmlType `xml:"type"`
	} `xml:"section"`
}

type xmlType struct {
	Name       string `xml:"name,attr"`
	Class      string `xml:"class,attr"`
	Source     string `xml:"source,attr"`
	Provides   string `xml:"provides,attr"`
	Descriptor *struct {
		Name string `xml:"name,attr"`
		Code string `xml:"code,attr"`
	} `xml:"descriptor"`
	Fields  []xmlField `xml:"field"`
	Choices []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"choice"`
}

type xmlField struct {
	Name      string `xml:"name,attr"`
	Type      string `xml:"type,attr"`
	Requires  string `xml:"requires,attr"`
	Default   string `xml:"default,attr"`
	Mandatory bool   `xml:"mandatory,attr"`
	Multiple  bool   `xml:"multiple,attr"`
}

// ---- generator model ----

// specType is one <type> of the specification with its verbatim XML text.
type specType struct {
	file string // e.g. "transport.bare.xml"
	t    xmlType
	raw  string
}

type composite struct {
	xmlName  string
	goName   string
	file     string
	section  string
	provides []string
	rawXML   string
	fields   []field
}

type field struct {
	xmlName   string
	goName    string
	kind      kind
	kindName  string
	opt       bool
	mandatory bool
	def       string // Go literal of a non-zero default, "" when the default is the zero value
	defText   string // default as written in the specification, for comments
	zeroIsDef bool
}

type descriptorConst struct {
	goName string
	symbol string
	code   uint64
}

func main() {
	specDir := flag.String("spec", "gen/spec", "directory holding the AMQP 1.0 *.bare.xml files")
	out := flag.String("out", "composites_gen.go", "output file")
	flag.Parse()

	src, err := generate(*specDir)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func generate(specDir string) ([]byte, error) {
	restricted := map[string]xmlType{}
	var comps []composite
	var descs []descriptorConst
	var types []specType
	for _, name := range specFiles {
		data, err := os.ReadFile(filepath.Join(specDir, name+".bare.xml"))
		if err != nil {
			return nil, err
		}
		var doc xmlDoc
		if err := xml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		raws, err := rawTypes(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, sec := range doc.Sections {
			for _, t := range sec.Types {
				if t.Class == "restricted" {
					restricted[t.Name] = t
				}
				types = append(types, specType{file: name + ".bare.xml", t: t, raw: raws[t.Name]})
			}
		}
	}
	for _, st := range types {
		t := st.t
		if t.Descriptor == nil {
			continue
		}
		code, err := parseCode(t.Descriptor.Code)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		descs = append(descs, descriptorConst{goName: "Descriptor" + goName(t.Name), symbol: t.Descriptor.Name, code: code})
		if t.Class != "composite" || skipComposites[t.Name] {
			continue
		}
		c := composite{
			xmlName: t.Name, goName: goName(t.Name), file: st.file, section: specSections[t.Name], rawXML: st.raw,
		}
		if c.section == "" {
			return nil, fmt.Errorf("%s: no specification section in specSections", t.Name)
		}
		for _, p := range strings.Split(t.Provides, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.provides = append(c.provides, p)
			}
		}
		for _, xf := range t.Fields {
			f, err := resolveField(t.Name, xf, restricted)
			if err != nil {
				return nil, err
			}
			c.fields = append(c.fields, f)
		}
		comps = append(comps, c)
	}
	return render(comps, descs)
}

// rawTypes returns the verbatim XML text of every <type> element, by name.
func rawTypes(data []byte) (map[string]string, error) {
	out := map[string]string{}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var start int64 = -1
	var name string
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "type" {
				start = before
				for _, a := range tok.Attr {
					if a.Name.Local == "name" {
						name = a.Value
					}
				}
			}
		case xml.EndElement:
			if tok.Name.Local == "type" && start >= 0 {
				out[name] = dedent(string(data[start:dec.InputOffset()]))
				start = -1
			}
		}
	}
}

func dedent(s string) string {
	lines := strings.Split(s, "\n")
	// The first line starts at "<type"; the others carry the file's indentation.
	indent := -1
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i := 1; i < len(lines); i++ {
		if len(lines[i]) >= indent && indent > 0 {
			lines[i] = lines[i][indent:]
		}
	}
	return strings.Join(lines, "\n")
}

func parseCode(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("bad descriptor code %q", s)
	}
	h, err := strconv.ParseUint(strings.TrimPrefix(hi, "0x"), 16, 32)
	if err != nil {
		return 0, err
	}
	l, err := strconv.ParseUint(strings.TrimPrefix(lo, "0x"), 16, 32)
	if err != nil {
		return 0, err
	}
	return h<<32 | l, nil
}

func resolveField(comp string, xf xmlField, restricted map[string]xmlType) (field, error) {
	key := comp + "." + xf.Name
	ov := overrides[key]
	f := field{xmlName: xf.Name, goName: goName(xf.Name), mandatory: xf.Mandatory, opt: ov.opt, zeroIsDef: ov.zeroIsDef}
	if ov.name != "" {
		f.goName = ov.name
	}
	kindName := ov.kind
	if kindName == "" {
		if xf.Type == "*" {
			kindName = requiresKinds[xf.Requires]
		} else {
			kindName = resolveKind(xf.Type, restricted)
		}
	}
	if kindName == "symbol" && xf.Multiple {
		kindName = "symbols"
	}
	k, ok := kinds[kindName]
	if !ok || (xf.Multiple && kindName != "symbols") {
		return f, fmt.Errorf("%s: no Go mapping for type %q (requires %q, multiple %v)", key, xf.Type, xf.Requires, xf.Multiple)
	}
	f.kind, f.kindName = k, kindName
	def := xf.Default
	if def == "" {
		def = ov.def
	}
	f.defText = def
	if def != "" {
		lit, err := defaultLiteral(xf.Type, kindName, def, restricted)
		if err != nil {
			return f, fmt.Errorf("%s: %w", key, err)
		}
		f.def = lit
	}
	if f.opt && (f.def != "" || f.mandatory) {
		return f, fmt.Errorf("%s: Opt[T] only fits optional fields without a default", key)
	}
	return f, nil
}

// resolveKind follows restricted types down to a kind.
func resolveKind(typ string, restricted map[string]xmlType) string {
	for range 8 {
		if k, ok := typeKinds[typ]; ok {
			return k
		}
		t, ok := restricted[typ]
		if !ok {
			return ""
		}
		typ = t.Source
	}
	return ""
}

// defaultLiteral turns a default written in the XML into a Go literal, or ""
// when it equals the Go zero value (nothing to set on decode).
func defaultLiteral(typ, kindName, def string, restricted map[string]xmlType) (string, error) {
	if c, ok := choiceConsts[typ+":"+def]; ok {
		if t, ok := restricted[typ]; ok {
			for _, ch := range t.Choices {
				if ch.Name == def && (ch.Value == "0" || ch.Value == "false") {
					return "", nil
				}
			}
		}
		return c, nil
	}
	switch kindName {
	case "bool":
		if def == "false" {
			return "", nil
		}
		return def, nil
	case "ubyte", "ushort", "uint", "ulong":
		if _, err := strconv.ParseUint(def, 10, 64); err != nil {
			return "", fmt.Errorf("bad default %q", def)
		}
		if def == "0" {
			return "", nil
		}
		return def, nil
	}
	return "", fmt.Errorf("no Go literal for default %q of type %s", def, typ)
}

func goName(xmlName string) string {
	var sb strings.Builder
	for _, w := range strings.Split(xmlName, "-") {
		if up, ok := initialisms[w]; ok {
			sb.WriteString(up)
			continue
		}
		sb.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return sb.String()
}

// ---- rendering ----

func render(comps []composite, descs []descriptorConst) ([]byte, error) {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("// Code generated by protocol/gen from the AMQP 1.0 XML type definitions. DO NOT EDIT.\n\n")
	p("package protocol\n\n")
	needsTime := false
	for _, c := range comps {
		for _, f := range c.fields {
			needsTime = needsTime || f.kind.needsTime
		}
	}
	if needsTime {
		p("import \"time\"\n\n")
	}

	p("// Descriptor codes of every described type in the specification (domain 0x00000000).\n")
	p("const (\n")
	for _, d := range descs {
		p("\t%s uint64 = %#04x // %s\n", d.goName, d.code, d.symbol)
	}
	p(")\n\n")
	p("// descriptorCodes maps symbolic descriptors to their numeric codes: a peer may\n")
	p("// send either form (spec 1.5).\n")
	p("var descriptorCodes = map[Symbol]uint64{\n")
	for _, d := range descs {
		p("\t%q: %s,\n", d.symbol, d.goName)
	}
	p("}\n\n")
	p("// descriptorSymbols maps numeric descriptor codes back to their symbolic names, for errors.\n")
	p("var descriptorSymbols = map[uint64]string{\n")
	for _, d := range descs {
		p("\t%s: %q,\n", d.goName, d.symbol)
	}
	p("}\n")

	for _, c := range comps {
		renderComposite(&b, c)
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return b.Bytes(), fmt.Errorf("gofmt generated code: %w", err)
	}
	return src, nil
}

func renderComposite(b *bytes.Buffer, c composite) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("\n// %s is the %q composite type (spec %s, %s):\n//\n", c.goName, c.xmlName, c.section, c.file)
	for _, l := range strings.Split(c.rawXML, "\n") {
		p("//\t%s\n", l)
	}
	p("//\n// Append omits trailing fields that are null or hold their default; Decode\n")
	p("// fills absent and null fields with their defaults.")
	if len(c.provides) > 0 {
		p(" Provides: %s.", strings.Join(c.provides, ", "))
	}
	p("\n")
	p("type %s struct {\n", c.goName)
	for _, f := range c.fields {
		if f.kindName == "attachTarget" {
			p("\tTarget *Target // target: the link target, or nil\n")
			p("\tCoordinator *Coordinator // target, when it is a transaction coordinator (spec 4.5.1); Target is then nil\n")
			continue
		}
		typ := f.kind.goType
		if f.opt {
			typ = "Opt[" + typ + "]"
		}
		p("\t%s %s // %s\n", f.goName, typ, fieldComment(f))
	}
	p("}\n\n")

	for _, pr := range c.provides {
		switch pr {
		case "frame":
			p("func (*%s) performative() {}\n\n", c.goName)
		case "sasl-frame":
			p("func (*%s) saslFrameBody() {}\n\n", c.goName)
		case "delivery-state":
			p("func (*%s) deliveryState() {}\n\n", c.goName)
		}
	}

	renderAppend(b, c)
	renderDecode(b, c)
}

func fieldComment(f field) string {
	var parts []string
	parts = append(parts, f.xmlName)
	switch {
	case f.mandatory:
		parts = append(parts, "mandatory")
	case f.defText != "":
		parts = append(parts, "default "+f.defText)
	case f.opt:
		parts = append(parts, "unset = null")
	}
	if f.zeroIsDef {
		parts = append(parts, "zero value = default")
	}
	if f.kindName == "binaryAlias" {
		parts = append(parts, "aliases the input after Decode")
	}
	return strings.Join(parts, ", ")
}

// nullExpr is the condition under which the field is encoded as null.
func nullExpr(f field) string {
	x := "x." + f.goName
	switch {
	case f.mandatory:
		return "false"
	case f.opt:
		return "!" + x + ".Set"
	case f.def != "":
		cond := x + " == " + f.def
		if f.zeroIsDef {
			cond += " || " + x + " == " + f.kind.zero
		}
		return cond
	}
	return strings.ReplaceAll(f.kind.null, "$", x)
}

func encodeStmt(f field) string {
	x := "x." + f.goName
	if f.opt {
		x += ".V"
	}
	return strings.ReplaceAll(f.kind.encode, "$", x)
}

func decodeStmt(f field) string {
	x := "x." + f.goName
	if f.opt {
		return strings.ReplaceAll(f.kind.decode, "$", x+".V") + "\n" + x + ".Set = true"
	}
	return strings.ReplaceAll(f.kind.decode, "$", x)
}

func renderAppend(b *bytes.Buffer, c composite) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	minCount := 0
	anyErr := false
	for i, f := range c.fields {
		if f.mandatory {
			minCount = i + 1
		}
		anyErr = anyErr || f.kind.encErr
	}
	p("// Append appends the %s as a described list.\n", c.xmlName)
	p("func (x *%s) Append(b []byte) ([]byte, error) {\n", c.goName)
	if len(c.fields) == 0 {
		p("\tb = AppendDescriptor(b, %s)\n", "Descriptor"+c.goName)
		p("\tb, mark := BeginList(b)\n")
		p("\treturn EndList(b, mark, 0), nil\n}\n\n")
		return
	}
	p("\tnull := [%d]bool{\n", len(c.fields))
	for _, f := range c.fields {
		p("\t\t%s, // %s\n", nullExpr(f), f.xmlName)
	}
	p("\t}\n")
	p("\tn := len(null)\n")
	p("\tfor n > %d && null[n-1] {\n\t\tn--\n\t}\n", minCount)
	if anyErr {
		p("\tstart := len(b)\n")
		p("\tvar err error\n")
	}
	p("\tb = AppendDescriptor(b, Descriptor%s)\n", c.goName)
	p("\tb, mark := BeginList(b)\n")
	p("\tfor i := range n {\n")
	p("\t\tif null[i] {\n\t\t\tb = AppendNull(b)\n\t\t\tcontinue\n\t\t}\n")
	p("\t\tswitch i {\n")
	for i, f := range c.fields {
		p("\t\tcase %d: // %s\n", i, f.xmlName)
		p("\t\t\t%s\n", encodeStmt(f))
	}
	p("\t\t}\n")
	if anyErr {
		p("\t\tif err != nil {\n\t\t\treturn b[:start], err\n\t\t}\n")
	}
	p("\t}\n")
	p("\treturn EndList(b, mark, n), nil\n}\n\n")
}

func renderDecode(b *bytes.Buffer, c composite) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("// Decode reads %s %s (numeric or symbolic descriptor) into x, replacing\n", articleFor(c.xmlName), c.xmlName)
	p("// every field.\n")
	p("func (x *%s) Decode(d *Decoder) error {\n", c.goName)
	p("\tcount, end, err := readCompositeHeader(d, Descriptor%s)\n", c.goName)
	p("\tif err != nil {\n\t\treturn err\n\t}\n")
	var defs []string
	for _, f := range c.fields {
		if f.def != "" {
			defs = append(defs, f.goName+": "+f.def)
		}
	}
	p("\t*x = %s{%s}\n", c.goName, strings.Join(defs, ", "))
	for i, f := range c.fields {
		if f.mandatory {
			p("\tif count <= %d {\n\t\treturn missingField(d, %q, %q)\n\t}\n", i, c.xmlName, f.xmlName)
		}
	}
	if len(c.fields) == 0 {
		p("\tfor range count {\n\t\tif err := d.Skip(); err != nil {\n\t\t\treturn err\n\t\t}\n\t}\n")
		p("\treturn endComposite(d, end, %q)\n}\n", c.xmlName)
		return
	}
	p("\tfor i := range count {\n")
	p("\t\tnull, err := d.ReadNull()\n")
	p("\t\tif err != nil {\n\t\t\treturn err\n\t\t}\n")
	p("\t\tif null {\n")
	var mand []string
	for i, f := range c.fields {
		if f.mandatory {
			mand = append(mand, strconv.Itoa(i))
		}
	}
	if len(mand) > 0 {
		p("\t\t\tswitch i {\n")
		for i, f := range c.fields {
			if f.mandatory {
				p("\t\t\tcase %d:\n\t\t\t\treturn missingField(d, %q, %q)\n", i, c.xmlName, f.xmlName)
			}
		}
		p("\t\t\t}\n")
	}
	p("\t\t\tcontinue\n\t\t}\n")
	p("\t\tswitch i {\n")
	for i, f := range c.fields {
		p("\t\tcase %d: // %s\n", i, f.xmlName)
		p("\t\t\t%s\n", decodeStmt(f))
	}
	p("\t\tdefault: // fields beyond this version of the specification\n\t\t\terr = d.Skip()\n")
	p("\t\t}\n")
	p("\t\tif err != nil {\n\t\t\treturn err\n\t\t}\n")
	p("\t}\n")
	p("\treturn endComposite(d, end, %q)\n}\n", c.xmlName)
}

func articleFor(s string) string {
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an"
	}
	return "a"
}
