package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// refreshMargin: a token this close to expiry is refreshed before use.
const refreshMargin = 30 * time.Second

func (c *Client) setTokens(t Tokens) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens = t
	c.expiry = time.Time{}
	if t.ExpiresIn > 0 {
		c.expiry = c.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	}
}

// Tokens returns the current token pair (empty before the first login).
func (c *Client) Tokens() Tokens {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens
}

// fresh reports whether the access token can be used as is.
func (c *Client) fresh() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens.AccessToken == "" {
		return "", false
	}
	if c.expiry.IsZero() {
		return c.tokens.AccessToken, true
	}
	margin := min(refreshMargin, time.Duration(c.tokens.ExpiresIn)*time.Second/10)
	return c.tokens.AccessToken, c.now().Add(margin).Before(c.expiry)
}

// accessToken returns a usable access token, refreshing or logging in first
// when there is none or it is about to expire.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	if c.apiKey != "" {
		return c.apiKey, nil
	}
	if tok, ok := c.fresh(); ok {
		return tok, nil
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if tok, ok := c.fresh(); ok { // renewed while we waited
		return tok, nil
	}
	if err := c.renewLocked(ctx); err != nil {
		return "", err
	}
	tok, _ := c.fresh()
	return tok, nil
}

// renew gets a new access token after `rejected` was refused with 401, unless
// another request already replaced it.
func (c *Client) renew(ctx context.Context, rejected string) error {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	c.mu.Lock()
	replaced := c.tokens.AccessToken != rejected
	c.mu.Unlock()
	if replaced {
		return nil
	}
	return c.renewLocked(ctx)
}

// renewLocked refreshes with the refresh token, else (or when that fails with
// 401) logs in with the credentials. c.authMu is held.
func (c *Client) renewLocked(ctx context.Context) error {
	c.mu.Lock()
	refresh, email, password := c.tokens.RefreshToken, c.email, c.password
	c.mu.Unlock()
	if refresh != "" {
		err := c.refresh(ctx, refresh)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		if email == "" || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
			return err
		}
	}
	if email == "" {
		c.mu.Lock()
		c.tokens.AccessToken = ""
		c.mu.Unlock()
		return ErrNoCredentials
	}
	_, err := c.login(ctx, email, password)
	return err
}

func (c *Client) login(ctx context.Context, email, password string) (Tokens, error) {
	var t Tokens
	_, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": password}, out: &t})
	if err != nil {
		return Tokens{}, err
	}
	c.setTokens(t)
	return t, nil
}

func (c *Client) refresh(ctx context.Context, refreshToken string) error {
	var t Tokens
	_, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/auth/refresh",
		body: map[string]string{"refresh_token": refreshToken}, out: &t})
	if err != nil {
		return err
	}
	c.setTokens(t)
	return nil
}

// Login logs in and keeps the credentials, so the client logs in again by
// itself whenever its refresh token no longer works. A wrong password is an
// *APIError with Code CodeInvalidCredentials.
func (c *Client) Login(ctx context.Context, email, password string) (Tokens, error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	t, err := c.login(ctx, email, password)
	if err != nil {
		return Tokens{}, err
	}
	c.mu.Lock()
	c.email, c.password = email, password
	c.mu.Unlock()
	return t, nil
}

// Refresh trades the refresh token for a new pair now (the client also does
// it by itself before the access token expires and after a 401).
func (c *Client) Refresh(ctx context.Context) (Tokens, error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	refresh := c.Tokens().RefreshToken
	if refresh == "" {
		return Tokens{}, ErrNoCredentials
	}
	if err := c.refresh(ctx, refresh); err != nil {
		return Tokens{}, err
	}
	return c.Tokens(), nil
}

// Logout revokes the access and refresh tokens and forgets them and the
// credentials; the client is logged out until the next Login.
func (c *Client) Logout(ctx context.Context) error {
	tok := c.Tokens()
	if tok.AccessToken == "" {
		return nil
	}
	var body any
	if tok.RefreshToken != "" {
		body = map[string]string{"refresh_token": tok.RefreshToken}
	}
	_, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/auth/logout", body: body, auth: true})
	c.mu.Lock()
	c.tokens, c.expiry, c.email, c.password = Tokens{}, time.Time{}, "", ""
	c.mu.Unlock()
	return err
}

// Register creates a user (no token needed). A taken email is an *APIError
// with Code CodeEmailTaken.
func (c *Client) Register(ctx context.Context, r Registration) (User, error) {
	var u User
	_, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/auth/register", body: r, out: &u})
	return u, err
}

// Me returns the logged-in user.
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/auth/me", out: &u, auth: true, retryable: true})
	return u, err
}

// ListUsers returns a page of users (admin:access).
func (c *Client) ListUsers(ctx context.Context, page, size int) (Page[User], error) {
	var p Page[User]
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/users", query: pageQuery(url.Values{}, page, size),
		out: &p, auth: true, retryable: true})
	return p, err
}

// SetPermissions replaces a user's permissions (admin:access).
func (c *Client) SetPermissions(ctx context.Context, userID string, permissions []string) (User, error) {
	if permissions == nil {
		permissions = []string{}
	}
	var u User
	_, err := c.do(ctx, call{method: http.MethodPut, path: "/api/v1/users/" + url.PathEscape(userID) + "/permissions",
		body: map[string][]string{"permissions": permissions}, out: &u, auth: true, retryable: true})
	return u, err
}

// SetActive activates or deactivates a user (admin:access); a deactivated
// user's tokens are refused at once.
func (c *Client) SetActive(ctx context.Context, userID string, active bool) (User, error) {
	var u User
	_, err := c.do(ctx, call{method: http.MethodPatch, path: "/api/v1/users/" + url.PathEscape(userID),
		body: map[string]bool{"is_active": active}, out: &u, auth: true})
	return u, err
}
