package definitions

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseInvalid(t *testing.T) {
	const sha256Hash = "AQIDBLq/hWyT4GNQ5SjFtltSvLoQIZIQIckdYAqRUvj04Npv"
	cases := []struct {
		name, json, want string
	}{
		// The file as a whole.
		{"empty file", ``, "empty file"},
		{"syntax error", "{\n  \"queues\": [\n    {\"name\": \"a\",}\n  ]\n}", "invalid JSON at line 3, column 19"},
		{"truncated", `{"queues": [`, "unexpected end of file"},
		{"not an object", `[]`, "must hold a JSON object"},
		{"null", `null`, "must hold a JSON object"},
		{"trailing data", `{} {}`, "unexpected data after"},
		{"section not a list", `{"queues": {"name": "a"}}`, "queues must be a list"},
		{"entry not an object", `{"queues": ["a"]}`, "queues[0] must be a JSON object"},
		{"version not a string", `{"rabbit_version": 3}`, "top level: rabbit_version must be a string"},

		// Users.
		{"user without name", `{"users": [{"password": "x"}]}`, `users[0] "": name must not be empty`},
		{"user name not a string", `{"users": [{"name": 7}]}`, `users[0]: name must be a string`},
		{"duplicate user", `{"users": [{"name": "a"}, {"name": "a"}]}`, `users[1] "a": user already defined by users[0]`},
		{"password and hash", `{"users": [{"name": "a", "password": "p", "password_hash": "` + sha256Hash + `"}]}`,
			`users[0] "a": password and password_hash are mutually exclusive`},
		{"hash not base64", `{"users": [{"name": "a", "password_hash": "%%%"}]}`, `users[0] "a": password_hash is not valid base64`},
		{"hash wrong length", `{"users": [{"name": "a", "password_hash": "` + sha256Hash + `", "hashing_algorithm": "rabbit_password_hashing_sha512"}]}`,
			`users[0] "a": password_hash holds 36 bytes, rabbit_password_hashing_sha512 needs 68`},
		{"unknown hashing", `{"users": [{"name": "a", "hashing_algorithm": "bcrypt"}]}`, `users[0] "a": unknown hashing_algorithm "bcrypt"`},
		{"tags not strings", `{"users": [{"name": "a", "tags": [1]}]}`, `users[0] "a": tags must be a comma-separated string or a list of strings`},

		// Vhosts.
		{"vhost without name", `{"vhosts": [{}]}`, `vhosts[0] "": name must not be empty`},
		{"duplicate vhost", `{"vhosts": [{"name": "v"}, {"name": "v"}]}`, `vhosts[1] "v": vhost already listed by vhosts[0]`},

		// Permissions.
		{"permission unknown vhost", `{"permissions": [{"user": "guest", "vhost": "prod", "configure": ".*"}]}`,
			`permissions[0] (user "guest", vhost "prod"): vhost "prod" is not listed in vhosts`},
		{"permission unknown user", `{"permissions": [{"user": "bob", "vhost": "/"}]}`,
			`permissions[0] (user "bob", vhost "/"): user "bob" is not listed in users`},
		{"permission without user", `{"permissions": [{"vhost": "/"}]}`, `permissions[0] (user "", vhost "/"): user must not be empty`},
		{"permission bad regexp", `{"permissions": [{"user": "guest", "read": "(unclosed"}]}`,
			`permissions[0] (user "guest", vhost "/"): read is not a valid regular expression`},
		{"duplicate permission", `{"permissions": [{"user": "guest"}, {"user": "guest", "vhost": "/"}]}`,
			`permissions[1] (user "guest", vhost "/"): permissions already set by permissions[0]`},

		// Exchanges.
		{"exchange without type", `{"exchanges": [{"name": "x"}]}`, `exchanges[0] "x": type must not be empty`},
		{"exchange bad type", `{"exchanges": [{"name": "x", "type": "round-robin"}]}`, `exchanges[0] "x": type "round-robin" is not one of direct, fanout, topic, headers or a custom x-… type`},
		{"exchange bare x- type", `{"exchanges": [{"name": "x", "type": "x-"}]}`, `exchanges[0] "x": type "x-"`},
		{"exchange durable not bool", `{"exchanges": [{"name": "x", "type": "direct", "durable": "yes"}]}`, `exchanges[0] "x": durable must be true or false`},
		{"exchange arguments not object", `{"exchanges": [{"name": "x", "type": "direct", "arguments": []}]}`, `exchanges[0] "x": arguments must be a JSON object`},
		{"exchange alternate not string", `{"exchanges": [{"name": "x", "type": "direct", "arguments": {"alternate-exchange": 1}}]}`,
			`exchanges[0] "x": alternate-exchange must be a string`},
		{"exchange unknown vhost", `{"exchanges": [{"name": "x", "vhost": "v", "type": "direct"}]}`, `exchanges[0] "x": vhost "v" is not listed in vhosts`},
		{"duplicate exchange", `{"vhosts": [{"name": "v"}], "exchanges": [{"name": "x", "type": "direct", "vhost": "v"}, {"name": "x", "type": "direct"}, {"name": "x", "type": "topic", "vhost": "v"}]}`,
			`exchanges[2] "x": exchange already defined by exchanges[0]`},

		// Queues.
		{"queue without name", `{"queues": [{"durable": true}]}`, `queues[0] "": name must not be empty`},
		{"queue unknown vhost", `{"queues": [{"name": "q", "vhost": "v"}]}`, `queues[0] "q": vhost "v" is not listed in vhosts`},
		{"duplicate queue", `{"queues": [{"name": "q"}, {"name": "q", "vhost": "/"}]}`, `queues[1] "q": queue already defined by queues[0]`},
		{"number out of range", `{"queues": [{"name": "q", "arguments": {"x-max-length": 1e999}}]}`, `queues[0] "q": arguments "x-max-length": number 1e999 is out of range`},
		{"nested number out of range", `{"queues": [{"name": "q", "arguments": {"x-extra": [{"a": -1e999}]}}]}`, `queues[0] "q": arguments "x-extra": number -1e999 is out of range`},

		// Bindings.
		{"binding from default exchange", `{"bindings": [{"source": "", "destination": "q", "destination_type": "queue"}]}`,
			`bindings[0] "" -> queue "q": source must not be empty`},
		{"binding without destination", `{"bindings": [{"source": "x", "destination_type": "queue"}]}`,
			`bindings[0] "x" -> queue "": destination must not be empty`},
		{"binding bad destination type", `{"bindings": [{"source": "x", "destination": "q", "destination_type": "topic"}]}`,
			`bindings[0] "x" -> topic "q": destination_type "topic" must be "queue" or "exchange"`},
		{"binding unknown vhost", `{"bindings": [{"source": "x", "vhost": "v", "destination": "q", "destination_type": "queue"}]}`,
			`bindings[0] "x" -> queue "q": vhost "v" is not listed in vhosts`},
		{"binding bad x-match", `{"bindings": [{"source": "x", "destination": "y", "destination_type": "exchange", "arguments": {"x-match": "most"}}]}`,
			`bindings[0] "x" -> exchange "y": x-match must be one of "all", "any", "all-with-x", "any-with-x"`},
		{"binding routing key not string", `{"bindings": [{"source": "x", "destination": "y", "destination_type": "exchange", "routing_key": 5}]}`,
			`bindings[0] "x" -> exchange "y": routing_key must be a string`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.json), quietLogger())
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "definitions: ")
		})
	}
}

func TestQueueArguments(t *testing.T) {
	cases := []struct {
		args string
		want string // "" = valid
	}{
		{`{"x-message-ttl": 0}`, ""},
		{`{"x-message-ttl": 60000}`, ""},
		{`{"x-message-ttl": 6e4}`, ""},
		{`{"x-message-ttl": -1}`, "x-message-ttl must be a non-negative integer (milliseconds)"},
		{`{"x-message-ttl": 1.5}`, "x-message-ttl must be a non-negative integer"},
		{`{"x-message-ttl": "60000"}`, "x-message-ttl must be a non-negative integer"},
		{`{"x-expires": 1}`, ""},
		{`{"x-expires": 0}`, "x-expires must be a positive integer (milliseconds)"},
		{`{"x-max-length": 0}`, ""},
		{`{"x-max-length": -5}`, "x-max-length must be a non-negative integer"},
		{`{"x-max-length": 9223372036854775808}`, "x-max-length must be a non-negative integer"},
		{`{"x-max-length-bytes": 1048576}`, ""},
		{`{"x-max-length-bytes": true}`, "x-max-length-bytes must be a non-negative integer"},
		{`{"x-overflow": "drop-head"}`, ""},
		{`{"x-overflow": "reject-publish"}`, ""},
		{`{"x-overflow": "reject-publish-dlx"}`, ""},
		{`{"x-overflow": "block"}`, `x-overflow must be one of "drop-head", "reject-publish", "reject-publish-dlx"`},
		{`{"x-dead-letter-exchange": ""}`, ""},
		{`{"x-dead-letter-exchange": null}`, "x-dead-letter-exchange must be a string"},
		{`{"x-dead-letter-routing-key": 1}`, "x-dead-letter-routing-key must be a string"},
		{`{"x-queue-type": "stream"}`, ""},
		{`{"x-queue-type": "priority"}`, `x-queue-type must be one of "classic", "quorum", "stream"`},
		{`{"x-something-else": {"nested": [1, 2.5]}}`, ""},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			d, err := Parse([]byte(`{"queues": [{"name": "orders", "arguments": `+c.args+`}]}`), quietLogger())
			if c.want == "" {
				require.NoError(t, err)
				require.Len(t, d.Queues, 1)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), `queues[0] "orders": `+c.want)
		})
	}
}

func TestNumbersAreNormalised(t *testing.T) {
	d, err := Parse([]byte(`{"queues": [{"name": "q", "arguments": {
		"int": 42, "neg": -7, "exp": 1e3, "frac": 0.25, "big": 1e20, "list": [1, 1.5, {"deep": 2}]
	}}]}`), quietLogger())
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"int":  int64(42),
		"neg":  int64(-7),
		"exp":  int64(1000),
		"frac": 0.25,
		"big":  1e20,
		"list": []any{int64(1), 1.5, map[string]any{"deep": int64(2)}},
	}, d.Queues[0].Arguments)
}

// bcrypt hashes and argon2id PHC strings are password_hash values too (Warren's own export writes
// bcrypt); their format is the broker's to check, so the file's validation lets them through as they
// are, whichever RabbitMQ hashing_algorithm comes with them. Other values must still be RabbitMQ's
// base64 salted hash.
func TestParseBcryptAndArgon2idHashes(t *testing.T) {
	for _, hash := range []string{
		"$2a$10$lIaNn.n77cfmaf5zi9SxnO8Qpd0kRfXrtRozArluIsEgRcA9hRgoa",
		"$2b$04$abcdefghijklmnopqrstuv",
		"$argon2id$v=19$m=1024,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$c2VjcmV0c2VjcmV0c2VjcmV0",
	} {
		d, err := Parse([]byte(`{"users": [{"name": "a", "password_hash": "`+hash+`", "hashing_algorithm": "rabbit_password_hashing_sha512"}]}`), quietLogger())
		require.NoError(t, err, hash)
		assert.Equal(t, hash, d.Users[0].PasswordHash)
	}
	_, err := Parse([]byte(`{"users": [{"name": "a", "password_hash": "$5$rounds=5000$x"}]}`), quietLogger())
	require.ErrorContains(t, err, `users[0] "a": password_hash is not valid base64`)
}
