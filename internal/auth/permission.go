// Package auth owns users, permissions and tokens: registration, login with a
// brute-force limit, JWT access tokens (HS256 only) with revocation, rotating
// refresh tokens with reuse detection, the user admin routes and the middleware
// that turns a bearer token into a Principal with permissions.
package auth

import "slices"

// Permission names, as in docs/api.md.
const (
	PermTransactionCreate = "transaction:create"
	PermTransactionRead   = "transaction:read"
	PermTransactionUpdate = "transaction:update"
	PermTransactionDelete = "transaction:delete"
	PermAdmin             = "admin:access"
	PermWebhookManage     = "webhook:manage"
)

// AllPermissions lists every permission in a stable order.
var AllPermissions = []string{PermTransactionCreate, PermTransactionRead, PermTransactionUpdate, PermTransactionDelete, PermAdmin, PermWebhookManage}

// DefaultPermissions are granted to a newly registered user: a client app
// records payments, reads them and registers the webhooks that report them.
var DefaultPermissions = []string{PermTransactionCreate, PermTransactionRead, PermWebhookManage}

// ValidPermission reports whether p is a known permission.
func ValidPermission(p string) bool { return slices.Contains(AllPermissions, p) }

// Principal is the authenticated caller of a request, with permissions read
// from the database on this request (so revoking one takes effect at once).
type Principal struct {
	UserID      string
	Email       string
	Permissions []string
	TokenID     string // jti of the access token ("" for an API key)
	ExpiresAt   int64  // unix seconds of the access token's exp (0 for an API key)
	// APIKeyID is the API key the request authenticated with ("" for a JWT);
	// Permissions are then the key's AND its owner's current ones.
	APIKeyID string
}

// ViaAPIKey reports whether the caller authenticated with an API key.
func (p *Principal) ViaAPIKey() bool { return p != nil && p.APIKeyID != "" }

// Has reports whether the principal holds perm.
func (p *Principal) Has(perm string) bool { return p != nil && slices.Contains(p.Permissions, perm) }

// IsAdmin reports whether the principal can see and manage everything.
func (p *Principal) IsAdmin() bool { return p.Has(PermAdmin) }
