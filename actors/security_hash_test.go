package actors

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/actors/definitions"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// rabbitHash is RabbitMQ's password hash, base64(salt[4] ++ SHA-256(salt ++ password)), as
// `rabbitmqctl export_definitions` writes it.
func rabbitHash(password string) string {
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	sum := sha256.Sum256(append(salt[:], password...))
	return base64.StdEncoding.EncodeToString(append(salt[:], sum[:]...))
}

// A definitions file (not only Options) may carry bcrypt and argon2id hashes: the file's validation
// leaves their format to the broker, which checks it at load and names the entry.
func TestDefinitionsFileBcryptAndArgon2idHashes(t *testing.T) {
	bh, err := bcrypt.GenerateFromPassword([]byte("b-secret"), bcrypt.MinCost)
	require.NoError(t, err)
	salt := []byte("0123456789abcdef")
	b64 := base64.RawStdEncoding.EncodeToString
	phc := fmt.Sprintf("$argon2id$v=%d$m=1024,t=1,p=1$%s$%s", argon2.Version, b64(salt),
		b64(argon2.IDKey([]byte("a-secret"), salt, 1, 1024, 1, 32)))
	file := func(hashes ...string) string {
		users := []map[string]any{}
		for i, h := range hashes {
			users = append(users, map[string]any{"name": fmt.Sprintf("u%d", i), "password_hash": h, "tags": ""})
		}
		data, err := json.Marshal(map[string]any{"users": users, "permissions": []map[string]any{
			{"user": "u0", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
			{"user": "u1", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
		}[:len(hashes)]})
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "definitions.json")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		return path
	}

	d, err := definitions.Load(file(string(bh), phc), testLogger())
	require.NoError(t, err, "bcrypt and argon2id hashes in a definitions file")
	b := startBroker(t, func(o *Options) { o.Definitions = d })
	for user, pass := range map[string]string{"u0": "b-secret", "u1": "a-secret"} {
		c, err := amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(user, pass)})
		require.NoError(t, err, user)
		require.NoError(t, c.Close())
		_, err = amqp.Dial(testCtx(t), "amqp://"+b.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(user, "wrong")})
		require.Error(t, err, user)
	}

	// A malformed one passes the file's validation and stops the broker's start, naming the entry.
	d, err = definitions.Load(file("$2b$10$tooshort"), testLogger())
	require.NoError(t, err)
	_, err = NewBroker(Options{AMQPAddr: "-", Logger: testLogger(), Definitions: d})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `users[0] "u0"`)
	assert.Contains(t, err.Error(), "bcrypt")
	// Anything else that is not base64 is still no RabbitMQ hash.
	_, err = definitions.Load(file("$1$md5crypt$x"), testLogger())
	require.ErrorContains(t, err, "password_hash is not valid base64")
}

// Plain-text passwords (development) are hashed when the broker loads its users: neither the options
// the broker keeps nor the export hold them, and the export shows the hash the login checks.
func TestDefinitionsPlainPasswordsKeptOnlyHashed(t *testing.T) {
	b := startBroker(t, func(o *Options) {
		o.Definitions = &definitions.Definitions{Users: []definitions.User{
			{Name: "alice", Password: "alice-pw", Tags: []string{"management"}},
			{Name: "bob", PasswordHash: rabbitHash("bob-pw")},
			{Name: "carol"}, // EXTERNAL only
		}, Permissions: allOn("/", "alice", "bob", "carol")}
	})
	for _, u := range b.opts.Definitions.Users {
		assert.Empty(t, u.Password, "%s: a clear password stayed in the broker's definitions", u.Name)
	}
	alice := b.opts.Definitions.Users[0]
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(alice.PasswordHash), []byte("alice-pw")),
		"the kept hash is the bcrypt hash the login checks")

	export := func() map[string]definitions.User {
		d, err := b.exportDefinitions()
		require.NoError(t, err)
		data, err := d.Marshal()
		require.NoError(t, err)
		assert.NotContains(t, string(data), `"password"`)
		assert.NotContains(t, string(data), "alice-pw")
		users := map[string]definitions.User{}
		for _, u := range d.Users {
			assert.Empty(t, u.Password, u.Name)
			users[u.Name] = u
		}
		return users
	}
	first, second := export(), export()
	assert.Equal(t, first, second, "an export shows the hashes the broker holds, not a fresh hash of a clear password")
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(first["alice"].PasswordHash), []byte("alice-pw")))
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(first["guest"].PasswordHash), []byte("guest")), "the built-in guest")
	assert.Equal(t, b.opts.Definitions.Users[1].PasswordHash, first["bob"].PasswordHash, "a RabbitMQ hash is exported as given")
	assert.Empty(t, first["carol"].PasswordHash, "a user without a password has no hash")
	assert.Equal(t, []string{"management"}, first["alice"].Tags)

	// The export loads into another broker, whose users log in with the same passwords.
	d, err := b.exportDefinitions()
	require.NoError(t, err)
	data, err := d.Marshal()
	require.NoError(t, err)
	again, err := definitions.Parse(data, testLogger())
	require.NoError(t, err, "%s", data)
	b2 := startBroker(t, func(o *Options) { o.Definitions = again })
	for user, pass := range map[string]string{"alice": "alice-pw", "bob": "bob-pw", "guest": "guest"} {
		c, err := amqp.Dial(testCtx(t), "amqp://"+b2.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain(user, pass)})
		require.NoError(t, err, user)
		require.NoError(t, c.Close())
	}
}
