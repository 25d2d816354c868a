package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer keeps signing secrets encrypted at rest (AES-256-GCM). The service
// must sign with them, so they cannot be hashed; only a holder of
// WEBHOOK_SECRET_KEY can open them.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the AES key from keyMaterial (WEBHOOK_SECRET_KEY; at least
// 32 bytes of randomness are expected).
func NewSealer(keyMaterial string) (*Sealer, error) {
	if len(keyMaterial) < 16 {
		return nil, errors.New("webhook: secret key must be at least 16 bytes")
	}
	key := sha256.Sum256([]byte("verifier webhook secrets\x00" + keyMaterial))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts a secret: nonce || ciphertext.
func (s *Sealer) Seal(secret string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), nil)
}

// Open decrypts what Seal made.
func (s *Sealer) Open(sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("webhook: sealed secret too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", errors.New("webhook: cannot open the secret (wrong WEBHOOK_SECRET_KEY?)")
	}
	return string(plain), nil
}
