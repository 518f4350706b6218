// Command warrenctl manages a Warren broker through its HTTP management API.
//
//	warrenctl [global flags] COMMAND [ARGS] [flags]
//
// Global flags (accepted before or after the command): --url (default http://127.0.0.1:15672), --user
// and --password (default guest/guest), --vhost (default /), --json (machine-readable output), --timeout.
// Exit codes: 0 done, 1 the broker refused or could not be reached, 2 usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: warrenctl [global flags] COMMAND [ARGS] [flags]

commands:
  status                                   broker version, listeners, totals and message rates
  list queues|exchanges|bindings|connections|consumers|vhosts|users
  declare queue NAME [--durable=true] [--auto-delete] [--arg k=v ...]
  declare exchange NAME --type direct|fanout|topic|headers [--durable=true] [--auto-delete] [--internal] [--arg k=v ...]
  declare binding --source X --destination D [--destination-type queue|exchange] [--key K] [--arg k=v ...]
  delete queue NAME [--if-empty] [--if-unused]
  delete exchange NAME [--if-unused]
  delete binding --source X --destination D [--destination-type queue|exchange] [--key K]
  purge queue NAME
  publish [--exchange X] --routing-key K --body B [--base64] [--property k=v ...] [--header k=v ...]
  get QUEUE [--count N] [--ackmode ack_requeue_true|reject_requeue_true|ack_requeue_false] [--encoding auto|base64]
  close connection NAME [--reason R]
  export FILE|-                            write the definitions (RabbitMQ's definitions.json)
  import FILE|-                            apply a definitions file's exchanges, queues and bindings

global flags:
  --url URL          the management API (default http://127.0.0.1:15672)
  --user, --password credentials (default guest/guest)
  --vhost VHOST      virtual host (default /)
  --json             print JSON instead of tables
  --timeout D        HTTP timeout (default 30s)

--arg, --property and --header values are JSON when they parse as JSON (10, true, "10"), else strings.
exit codes: 0 done, 1 the broker refused or could not be reached, 2 usage error.
`

// options are the global flags.
type options struct {
	url, user, password, vhost string
	json                       bool
	timeout                    time.Duration
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// env is what a command needs: the options, the client and the streams.
type env struct {
	opts           *options
	c              *client
	stdin          io.Reader
	stdout, stderr io.Writer
}

// newFlags makes a flag set holding the global flags, so they are accepted after the command too.
func newFlags(name string, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.url, "url", o.url, "management API URL")
	fs.StringVar(&o.user, "user", o.user, "user")
	fs.StringVar(&o.password, "password", o.password, "password")
	fs.StringVar(&o.vhost, "vhost", o.vhost, "virtual host")
	fs.BoolVar(&o.json, "json", o.json, "JSON output")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "HTTP timeout")
	return fs
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErrorf("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// run executes one warrenctl invocation and returns its exit code; "import -" reads standard input.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr)
}

func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o := &options{url: "http://127.0.0.1:15672", user: "guest", password: "guest", vhost: "/", timeout: 30 * time.Second}
	global := newFlags("warrenctl", o)
	help := global.Bool("help", false, "")
	global.BoolVar(help, "h", false, "")
	if err := global.Parse(args); err != nil {
		fmt.Fprintf(stderr, "warrenctl: %v\n\n%s", err, usage)
		return 2
	}
	rest := global.Args()
	if *help || (len(rest) > 0 && rest[0] == "help") {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	e := &env{opts: o, stdin: stdin, stdout: stdout, stderr: stderr}
	err := dispatch(e, rest[0], rest[1:])
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "warrenctl: %v\nrun 'warrenctl help' for usage\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "warrenctl: %v\n", err)
		return 1
	}
}

// command is one subcommand: its flags are added to fs, then it runs with the positional arguments.
type command struct {
	flags func(fs *flag.FlagSet) func(e *env, pos []string) error
}

func dispatch(e *env, verb string, args []string) error {
	var name string
	if needsObject[verb] {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageErrorf("%s what? (%s)", verb, strings.Join(objectsOf(verb), ", "))
		}
		name, args = verb+" "+args[0], args[1:]
	} else {
		name = verb
	}
	cmd, ok := commands[name]
	if !ok {
		if needsObject[verb] {
			return usageErrorf("cannot %s %q (%s)", verb, strings.TrimPrefix(name, verb+" "), strings.Join(objectsOf(verb), ", "))
		}
		return usageErrorf("unknown command %q", verb)
	}
	fs := newFlags("warrenctl "+name, e.opts)
	runFn := cmd.flags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := newClient(e.opts.url, e.opts.user, e.opts.password, e.opts.timeout)
	if err != nil {
		return err
	}
	e.c = c
	return runFn(e, pos)
}

// needsObject: verbs followed by what they act on ("list queues").
var needsObject = map[string]bool{"list": true, "declare": true, "delete": true, "purge": true, "close": true}

func objectsOf(verb string) []string {
	var out []string
	for _, name := range commandOrder {
		if v, obj, ok := strings.Cut(name, " "); ok && v == verb {
			out = append(out, obj)
		}
	}
	return out
}

// exactly checks the number of positional arguments.
func exactly(pos []string, n int, what string) error {
	if len(pos) != n {
		if n == 0 {
			return usageErrorf("unexpected argument %q", pos[0])
		}
		return usageErrorf("want %s", what)
	}
	return nil
}
