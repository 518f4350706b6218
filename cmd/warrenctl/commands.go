package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

// commandOrder lists the commands as the usage shows them.
var commandOrder = []string{
	"status", "list queues", "list exchanges", "list bindings", "list connections", "list consumers", "list vhosts",
	"list users", "declare queue", "declare exchange", "declare binding", "delete queue", "delete exchange",
	"delete binding", "purge queue", "publish", "get", "close connection", "export", "import",
}

var commands = map[string]command{
	"status":           {flags: noFlags(cmdStatus)},
	"list queues":      {flags: noFlags(listCmd(listQueues))},
	"list exchanges":   {flags: noFlags(listCmd(listExchanges))},
	"list bindings":    {flags: noFlags(listCmd(listBindings))},
	"list connections": {flags: noFlags(listCmd(listConnections))},
	"list consumers":   {flags: noFlags(listCmd(listConsumers))},
	"list vhosts":      {flags: noFlags(listCmd(listVhosts))},
	"list users":       {flags: noFlags(listCmd(listUsers))},
	"declare queue":    {flags: declareQueue},
	"declare exchange": {flags: declareExchange},
	"declare binding":  {flags: declareBinding},
	"delete queue":     {flags: deleteQueue},
	"delete exchange":  {flags: deleteExchange},
	"delete binding":   {flags: deleteBinding},
	"purge queue":      {flags: noFlags(purgeQueue)},
	"publish":          {flags: publish},
	"get":              {flags: getMessages},
	"close connection": {flags: closeConnection},
	"export":           {flags: noFlags(exportDefinitions)},
	"import":           {flags: noFlags(importDefinitions)},
}

func noFlags(f func(e *env, pos []string) error) func(*flag.FlagSet) func(*env, []string) error {
	return func(*flag.FlagSet) func(*env, []string) error { return f }
}

// done reports an action without a reply body: a sentence, or {"result": ...} with --json.
func done(e *env, result, sentence string) error {
	if e.opts.json {
		return printValue(e.stdout, map[string]string{"result": result})
	}
	_, err := fmt.Fprintln(e.stdout, sentence)
	return err
}

// --- status and lists ------------------------------------------------------------------------------------

func cmdStatus(e *env, pos []string) error {
	if err := exactly(pos, 0, ""); err != nil {
		return err
	}
	_, data, err := e.c.do(http.MethodGet, path("overview"), nil, nil)
	if err != nil {
		return err
	}
	if e.opts.json {
		return printJSON(e.stdout, data)
	}
	var ov struct {
		Product   string           `json:"product_name"`
		Version   string           `json:"product_version"`
		User      string           `json:"user"`
		Listeners []map[string]any `json:"listeners"`
		Objects   map[string]any   `json:"object_totals"`
		Messages  map[string]any   `json:"queue_totals"`
		Stats     map[string]any   `json:"message_stats"`
	}
	if err := json.Unmarshal(data, &ov); err != nil {
		return fmt.Errorf("the overview is not what warrenctl expects: %w", err)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s %s (as %s)\n", ov.Product, ov.Version, ov.User)
	for _, l := range ov.Listeners {
		fmt.Fprintf(w, "listening: %s on %s\n", cell(l["protocol"]), cell(l["address"]))
	}
	for _, k := range []string{"connections", "channels", "exchanges", "queues", "consumers"} {
		fmt.Fprintf(w, "%-24s %s\n", k+":", cell(ov.Objects[k]))
	}
	for _, k := range []string{"messages", "messages_ready", "messages_unacknowledged"} {
		fmt.Fprintf(w, "%-24s %s\n", k+":", cell(ov.Messages[k]))
	}
	// Message counts since the broker started, with the rate over its last sampling interval.
	for _, k := range []string{"publish", "deliver_get", "ack", "redeliver", "reject", "drop_unroutable"} {
		if n, ok := ov.Stats[k]; ok {
			fmt.Fprintf(w, "%-24s %s (%s/s)\n", k+":", cell(n), rate(ov.Stats[k+"_details"]))
		}
	}
	return nil
}

// rate renders a message_stats "…_details" object's rate with one decimal.
func rate(details any) string {
	d, _ := details.(map[string]any)
	r, _ := d["rate"].(float64)
	return strconv.FormatFloat(r, 'f', 1, 64)
}

// lister names an API list and its table columns.
type lister struct {
	path    func(vhost string) string
	header  []string
	keys    []string
	fixRows func([]map[string]any)
}

func listCmd(l lister) func(e *env, pos []string) error {
	return func(e *env, pos []string) error {
		if err := exactly(pos, 0, ""); err != nil {
			return err
		}
		_, data, err := e.c.do(http.MethodGet, l.path(e.opts.vhost), nil, nil)
		if err != nil {
			return err
		}
		if e.opts.json {
			return printJSON(e.stdout, data)
		}
		var list []map[string]any
		if err := json.Unmarshal(data, &list); err != nil {
			return fmt.Errorf("the list is not what warrenctl expects: %w", err)
		}
		if l.fixRows != nil {
			l.fixRows(list)
		}
		return table(e.stdout, l.header, rows(list, l.keys...))
	}
}

var (
	listQueues = lister{
		path:   func(v string) string { return path("queues", v) },
		header: []string{"NAME", "MESSAGES", "READY", "UNACKED", "CONSUMERS", "DURABLE", "AUTO_DELETE", "ARGUMENTS"},
		keys:   []string{"name", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable", "auto_delete", "arguments"},
	}
	listExchanges = lister{
		path:   func(v string) string { return path("exchanges", v) },
		header: []string{"NAME", "TYPE", "DURABLE", "AUTO_DELETE", "INTERNAL", "ARGUMENTS"},
		keys:   []string{"name", "type", "durable", "auto_delete", "internal", "arguments"},
		fixRows: func(list []map[string]any) {
			for _, m := range list {
				if m["name"] == "" {
					m["name"] = "amq.default"
				}
			}
		},
	}
	listBindings = lister{
		path:   func(v string) string { return path("bindings", v) },
		header: []string{"SOURCE", "DESTINATION", "DESTINATION_TYPE", "ROUTING_KEY", "ARGUMENTS"},
		keys:   []string{"source", "destination", "destination_type", "routing_key", "arguments"},
		fixRows: func(list []map[string]any) {
			for _, m := range list {
				if m["source"] == "" {
					m["source"] = "amq.default"
				}
			}
		},
	}
	listConnections = lister{
		path:   func(string) string { return path("connections") },
		header: []string{"NAME", "USER", "VHOST", "PEER", "CONTAINER", "SESSIONS", "STATE"},
		keys:   []string{"name", "user", "vhost", "peer", "container", "sessions", "state"},
	}
	listConsumers = lister{
		path:   func(v string) string { return path("consumers", v) },
		header: []string{"CONSUMER_TAG", "QUEUE", "CONNECTION", "CHANNEL", "ACK_REQUIRED", "CREDIT"},
		keys:   []string{"consumer_tag", "queue", "connection", "channel", "ack_required", "credit"},
		fixRows: func(list []map[string]any) {
			for _, m := range list {
				if q, ok := m["queue"].(map[string]any); ok {
					m["queue"] = q["name"]
				}
				if ch, ok := m["channel_details"].(map[string]any); ok {
					m["connection"], m["channel"] = ch["connection_name"], ch["channel"]
				}
			}
		},
	}
	listVhosts = lister{
		path:   func(string) string { return path("vhosts") },
		header: []string{"NAME", "QUEUES", "EXCHANGES", "MESSAGES", "READY", "UNACKED", "CONSUMERS"},
		keys:   []string{"name", "queues", "exchanges", "messages", "messages_ready", "messages_unacknowledged", "consumers"},
	}
	listUsers = lister{
		path:   func(string) string { return path("users") },
		header: []string{"NAME", "TAGS"},
		keys:   []string{"name", "tags"},
	}
)

// --- declare and delete ------------------------------------------------------------------------------------

// declared reports a PUT: 201 created, 204 already there.
func declared(e *env, status int, what string) error {
	if status == http.StatusCreated {
		return done(e, "created", what+" declared")
	}
	return done(e, "exists", what+" already exists with these properties")
}

func declareQueue(fs *flag.FlagSet) func(*env, []string) error {
	durable := fs.Bool("durable", true, "")
	autoDelete := fs.Bool("auto-delete", false, "")
	args := keyValues{}
	fs.Var(args, "arg", "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 1, "declare queue NAME"); err != nil {
			return err
		}
		body := map[string]any{"durable": *durable, "auto_delete": *autoDelete, "arguments": args}
		st, _, err := e.c.do(http.MethodPut, path("queues", e.opts.vhost, pos[0]), body, nil)
		if err != nil {
			return err
		}
		return declared(e, st, fmt.Sprintf("queue %q", pos[0]))
	}
}

func declareExchange(fs *flag.FlagSet) func(*env, []string) error {
	kind := fs.String("type", "", "")
	durable := fs.Bool("durable", true, "")
	autoDelete := fs.Bool("auto-delete", false, "")
	internal := fs.Bool("internal", false, "")
	args := keyValues{}
	fs.Var(args, "arg", "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 1, "declare exchange NAME --type TYPE"); err != nil {
			return err
		}
		if *kind == "" {
			return usageErrorf("declare exchange needs --type (direct, fanout, topic or headers)")
		}
		body := map[string]any{"type": *kind, "durable": *durable, "auto_delete": *autoDelete, "internal": *internal, "arguments": args}
		st, _, err := e.c.do(http.MethodPut, path("exchanges", e.opts.vhost, pos[0]), body, nil)
		if err != nil {
			return err
		}
		return declared(e, st, fmt.Sprintf("exchange %q", pos[0]))
	}
}

// bindingFlags are the flags that name a binding's ends.
type bindingFlags struct{ source, destination, destType, key *string }

func newBindingFlags(fs *flag.FlagSet) *bindingFlags {
	return &bindingFlags{
		source:      fs.String("source", "", ""),
		destination: fs.String("destination", "", ""),
		destType:    fs.String("destination-type", "queue", ""),
		key:         fs.String("key", "", ""),
	}
}

// path is /api/bindings/{vhost}/e/{source}/q|e/{destination}.
func (bf *bindingFlags) path(vhost string) (string, error) {
	if *bf.source == "" || *bf.destination == "" {
		return "", usageErrorf("a binding needs --source and --destination")
	}
	var d string
	switch *bf.destType {
	case "queue", "q":
		d = "q"
	case "exchange", "e":
		d = "e"
	default:
		return "", usageErrorf("--destination-type is queue or exchange, not %q", *bf.destType)
	}
	return path("bindings", vhost, "e", *bf.source, d, *bf.destination), nil
}

func declareBinding(fs *flag.FlagSet) func(*env, []string) error {
	bf := newBindingFlags(fs)
	args := keyValues{}
	fs.Var(args, "arg", "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 0, ""); err != nil {
			return err
		}
		p, err := bf.path(e.opts.vhost)
		if err != nil {
			return err
		}
		if _, _, err := e.c.do(http.MethodPost, p, map[string]any{"routing_key": *bf.key, "arguments": args}, nil); err != nil {
			return err
		}
		return done(e, "created", fmt.Sprintf("binding %s → %s %s (key %q) declared", *bf.source, *bf.destType, *bf.destination, *bf.key))
	}
}

func deleteQueue(fs *flag.FlagSet) func(*env, []string) error {
	ifEmpty := fs.Bool("if-empty", false, "")
	ifUnused := fs.Bool("if-unused", false, "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 1, "delete queue NAME"); err != nil {
			return err
		}
		p := path("queues", e.opts.vhost, pos[0]) + fmt.Sprintf("?if-empty=%t&if-unused=%t", *ifEmpty, *ifUnused)
		if _, _, err := e.c.do(http.MethodDelete, p, nil, nil); err != nil {
			return err
		}
		return done(e, "deleted", fmt.Sprintf("queue %q deleted", pos[0]))
	}
}

func deleteExchange(fs *flag.FlagSet) func(*env, []string) error {
	ifUnused := fs.Bool("if-unused", false, "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 1, "delete exchange NAME"); err != nil {
			return err
		}
		p := path("exchanges", e.opts.vhost, pos[0]) + fmt.Sprintf("?if-unused=%t", *ifUnused)
		if _, _, err := e.c.do(http.MethodDelete, p, nil, nil); err != nil {
			return err
		}
		return done(e, "deleted", fmt.Sprintf("exchange %q deleted", pos[0]))
	}
}

// deleteBinding deletes every binding between the two ends with the routing key, whatever its
// arguments, by each one's properties key.
func deleteBinding(fs *flag.FlagSet) func(*env, []string) error {
	bf := newBindingFlags(fs)
	return func(e *env, pos []string) error {
		if err := exactly(pos, 0, ""); err != nil {
			return err
		}
		p, err := bf.path(e.opts.vhost)
		if err != nil {
			return err
		}
		var list []struct {
			Key   string `json:"routing_key"`
			Props string `json:"properties_key"`
		}
		if err := e.c.get(p, &list); err != nil {
			return err
		}
		n := 0
		for _, b := range list {
			if b.Key != *bf.key {
				continue
			}
			// The properties key is already percent-encoded: it goes into the path as it is.
			if _, _, err := e.c.do(http.MethodDelete, p+"/"+b.Props, nil, nil); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("no binding from %q to %s %q with key %q", *bf.source, *bf.destType, *bf.destination, *bf.key)
		}
		return done(e, "deleted", fmt.Sprintf("%d binding(s) deleted", n))
	}
}

func purgeQueue(e *env, pos []string) error {
	if err := exactly(pos, 1, "purge queue NAME"); err != nil {
		return err
	}
	_, data, err := e.c.do(http.MethodDelete, path("queues", e.opts.vhost, pos[0], "contents"), nil, nil)
	if err != nil {
		return err
	}
	if e.opts.json {
		return printJSON(e.stdout, data)
	}
	var r struct {
		Count int64 `json:"message_count"`
	}
	_ = json.Unmarshal(data, &r)
	_, err = fmt.Fprintf(e.stdout, "queue %q purged: %d message(s) removed\n", pos[0], r.Count)
	return err
}

func closeConnection(fs *flag.FlagSet) func(*env, []string) error {
	reason := fs.String("reason", "", "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 1, "close connection NAME"); err != nil {
			return err
		}
		var h map[string]string
		if *reason != "" {
			h = map[string]string{"X-Reason": *reason}
		}
		if _, _, err := e.c.do(http.MethodDelete, path("connections", pos[0]), nil, h); err != nil {
			return err
		}
		return done(e, "closed", fmt.Sprintf("connection %q closed", pos[0]))
	}
}

// --- messages ----------------------------------------------------------------------------------------------

func publish(fs *flag.FlagSet) func(*env, []string) error {
	exchange := fs.String("exchange", "amq.default", "")
	key := fs.String("routing-key", "", "")
	body := fs.String("body", "", "")
	b64 := fs.Bool("base64", false, "")
	props := keyValues{}
	fs.Var(props, "property", "")
	headers := keyValues{}
	fs.Var(headers, "header", "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 0, ""); err != nil {
			return err
		}
		if *exchange == "" {
			*exchange = "amq.default"
		}
		p := map[string]any(props)
		if len(headers) > 0 {
			p["headers"] = map[string]any(headers)
		}
		req := map[string]any{"routing_key": *key, "payload": *body, "payload_encoding": "string", "properties": p}
		if *b64 {
			req["payload_encoding"] = "base64"
		}
		_, data, err := e.c.do(http.MethodPost, path("exchanges", e.opts.vhost, *exchange, "publish"), req, nil)
		if err != nil {
			return err
		}
		if e.opts.json {
			return printJSON(e.stdout, data)
		}
		var r struct {
			Routed bool   `json:"routed"`
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(data, &r)
		switch {
		case r.Routed:
			_, err = fmt.Fprintln(e.stdout, "message published and routed")
		case r.Reason != "":
			_, err = fmt.Fprintf(e.stdout, "message published but refused: %s\n", r.Reason)
		default:
			_, err = fmt.Fprintln(e.stdout, "message published but NOT routed")
		}
		return err
	}
}

func getMessages(fs *flag.FlagSet) func(*env, []string) error {
	count := fs.Int("count", 1, "")
	ackmode := fs.String("ackmode", "ack_requeue_true", "")
	encoding := fs.String("encoding", "auto", "")
	return func(e *env, pos []string) error {
		if err := exactly(pos, 1, "get QUEUE"); err != nil {
			return err
		}
		req := map[string]any{"count": *count, "ackmode": *ackmode, "encoding": *encoding}
		_, data, err := e.c.do(http.MethodPost, path("queues", e.opts.vhost, pos[0], "get"), req, nil)
		if err != nil {
			return err
		}
		if e.opts.json {
			return printJSON(e.stdout, data)
		}
		var list []map[string]any
		if err := json.Unmarshal(data, &list); err != nil {
			return fmt.Errorf("the messages are not what warrenctl expects: %w", err)
		}
		if len(list) == 0 {
			_, err := fmt.Fprintf(e.stdout, "queue %q has no ready messages\n", pos[0])
			return err
		}
		return table(e.stdout, []string{"ROUTING_KEY", "EXCHANGE", "MESSAGE_COUNT", "PAYLOAD", "PAYLOAD_BYTES", "PAYLOAD_ENCODING", "REDELIVERED"},
			rows(list, "routing_key", "exchange", "message_count", "payload", "payload_bytes", "payload_encoding", "redelivered"))
	}
}

// --- definitions -------------------------------------------------------------------------------------------

func exportDefinitions(e *env, pos []string) error {
	if err := exactly(pos, 1, "export FILE (or - for standard output)"); err != nil {
		return err
	}
	_, data, err := e.c.do(http.MethodGet, path("definitions"), nil, nil)
	if err != nil {
		return err
	}
	if pos[0] == "-" {
		_, err = e.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(pos[0], data, 0o600); err != nil {
		return err
	}
	if e.opts.json {
		return printValue(e.stdout, map[string]string{"result": "exported", "file": pos[0]})
	}
	_, err = fmt.Fprintf(e.stdout, "definitions written to %s\n", pos[0])
	return err
}

func importDefinitions(e *env, pos []string) error {
	if err := exactly(pos, 1, "import FILE (or - for standard input)"); err != nil {
		return err
	}
	var data []byte
	var err error
	if pos[0] == "-" {
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	_, reply, err := e.c.do(http.MethodPost, path("definitions"), data, nil)
	if err != nil {
		return err
	}
	if e.opts.json {
		return printJSON(e.stdout, reply)
	}
	var r struct {
		Exchanges, Queues, Bindings int
		Warnings                    []string
	}
	_ = json.Unmarshal(reply, &r)
	for _, w := range r.Warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	_, err = fmt.Fprintf(e.stdout, "imported %d exchange(s), %d queue(s), %d binding(s)\n", r.Exchanges, r.Queues, r.Bindings)
	return err
}
