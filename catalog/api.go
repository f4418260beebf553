package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opendist/odi/internal/byterange"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/disposition"
	"github.com/opendist/odi/internal/jsonstrict"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/relayapi"
)

// RegisterRoutes mounts the catalog's HTTP API on e:
//
//	GET  /api/v1/artifacts[?catalog=C&name=N]           list (JSON)
//	GET  /api/v1/artifacts/C/N/V                        one artifact (JSON)
//	GET  /api/v1/artifacts/C/N/V/SHA256SUMS             checksums, as sha256sum -c reads them
//	GET  /t/C/N/V.torrent                               the torrent (application/x-bittorrent)
//	POST /api/v1/uploads                                declare a publish (publisher-signed)
//	PUT  /api/v1/uploads/ID                             the bytes
//	POST /api/v1/uploads/ID/commit                      the signed manifest: publish
//	DELETE /api/v1/uploads/ID                           abandon an upload
//	GET  /api/v1/admin/publishers                       (admin-signed, like all below)
//	POST /api/v1/admin/publishers                       {"name","public_key","catalogs"}
//	POST /api/v1/admin/publishers/NAME/revoke
//	POST /api/v1/admin/expunge                          {"artifact":"C/N/V","reason"}
//	GET  /api/v1/admin/indexers, POST /api/v1/admin/indexers {"name","public_key"},
//	POST /api/v1/admin/indexers/NAME/revoke             (admin-signed)
//	PUT  /api/v1/indexes/KEY                            a signed index (indexer-signed;
//	     catalogapi.IndexSignatureHeader) -> IndexInfo
//	GET  /indexes/, /indexes/KEY/index.json[.minisig]   hosted indexes (ETag, 304)
//	POST /api/v1/relays/register, /api/v1/relays/heartbeat   (relay-signed, internal/relayapi)
//	GET  /api/v1/relays[?after=ID&limit=N]              relays, their state and holdings,
//	     a page at a time (catalogapi.RelayPage)
//	POST /api/v1/admin/relays/ID/approve, .../revoke, .../clear (admin-signed; clear
//	     lifts a quarantine)
//	POST /api/v1/reports                                bad pieces seen from relays
//	     (relayapi.Reports, unsigned) -> 202 ReportsAnswer
//
// Signed requests are checked before their bodies are read, and each endpoint caps its
// body (readSigned). A refusal for a limit that frees up with time is 503 with
// Retry-After. Deps.Popularity, if set, adds each artifact's swarm counters to the JSON.
// Reports count their senders by ctx.RealIP(): e.IPExtractor must say who sends (the
// directory's trusts X-Forwarded-For from its trusted proxies only).
func (c *Catalog) RegisterRoutes(e *echo.Echo) {
	e.GET("/api/v1/artifacts", c.handleList)
	e.GET("/api/v1/artifacts/:catalog/:name/:version", c.handleGet)
	e.GET("/api/v1/artifacts/:catalog/:name/:version/SHA256SUMS", c.handleSums)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/t/:catalog/:name/:file", c.handleTorrent)
	e.POST("/api/v1/uploads", c.handleDeclare, retryAfter)
	e.PUT("/api/v1/uploads/:id", c.handleReceive)
	e.POST("/api/v1/uploads/:id/commit", c.handleCommit, retryAfter)
	e.DELETE("/api/v1/uploads/:id", c.handleAbort)
	e.GET("/api/v1/admin/publishers", c.handleListPublishers, retryAfter)
	e.POST("/api/v1/admin/publishers", c.handleAddPublisher, retryAfter)
	e.POST("/api/v1/admin/publishers/:name/revoke", c.handleRevokePublisher, retryAfter)
	e.POST("/api/v1/admin/expunge", c.handleExpunge, retryAfter)
	e.GET("/api/v1/admin/indexers", c.handleListIndexers, retryAfter)
	e.POST("/api/v1/admin/indexers", c.handleAddIndexer, retryAfter)
	e.POST("/api/v1/admin/indexers/:name/revoke", c.handleRevokeIndexer, retryAfter)
	e.PUT("/api/v1/indexes/:key", c.handleIndexUpload, retryAfter)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/indexes/", c.handleIndexList)
	e.Match([]string{http.MethodGet, http.MethodHead}, "/indexes/:key/:file", c.handleIndexFile)
	e.POST("/api/v1/relays/register", c.handleRegister, retryAfter)
	e.POST("/api/v1/relays/heartbeat", c.handleHeartbeat, retryAfter)
	e.GET("/api/v1/relays", c.handleListRelays)
	e.POST("/api/v1/admin/relays/:id/approve", c.handleRelayState(relayapi.StateActive), retryAfter)
	e.POST("/api/v1/admin/relays/:id/revoke", c.handleRelayState(relayapi.StateRevoked), retryAfter)
	e.POST("/api/v1/admin/relays/:id/clear", c.handleClearRelay, retryAfter)
	e.POST("/api/v1/reports", c.handleReports)
}

// retryAfter tells a client refused for a limit that frees up with time (a *RetryLater)
// when to try again: the directory's error handler keeps the headers set before it.
func retryAfter(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		err := next(ctx)
		if rl, ok := errors.AsType[*RetryLater](err); ok {
			ctx.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(rl.After.Seconds())))))
		}
		return err
	}
}

func (c *Catalog) artifactJSON(a *Artifact, withFiles bool) catalogapi.Artifact {
	j := catalogapi.Artifact{
		ID: a.ID(), Catalog: a.Catalog, Name: a.Name, Version: a.Version, Root: a.Root,
		State: a.State, InfoHash: a.InfoHash.HexString(), Size: a.Size, PieceLength: a.PieceLength,
		FileCount: len(a.Files), Publisher: a.Publisher, PublishedAt: a.PublishedAt,
	}
	if withFiles {
		j.Files = a.Files
	}
	if a.State == catalogapi.Expunged {
		at := a.ExpungedAt
		j.ExpungedAt, j.ExpungeReason = &at, a.Reason
		return j
	}
	j.TorrentURL = c.TorrentURL(a)
	j.Magnet = c.Magnet(a)
	j.SHA256SumsURL = c.cfg.base() + "/api/v1/artifacts/" + a.ID() + "/SHA256SUMS"
	j.WebSeeds = c.WebSeeds(a)
	if c.deps.Popularity != nil {
		p := c.deps.Popularity.Popularity(a.InfoHash)
		j.Swarm = &p
	}
	return j
}

func (c *Catalog) handleList(ctx echo.Context) error {
	arts := c.Artifacts(ctx.QueryParam("catalog"), ctx.QueryParam("name"))
	out := make([]catalogapi.Artifact, len(arts))
	for i, a := range arts {
		out[i] = c.artifactJSON(a, false)
	}
	list := catalogapi.ArtifactList{Artifacts: out}
	if c.deps.References != nil && ctx.QueryParam("catalog") == "" && ctx.QueryParam("name") == "" {
		list.Referenced = c.deps.References.Referenced()
	}
	return ctx.JSON(http.StatusOK, list)
}

func (c *Catalog) lookup(ctx echo.Context, version string) (*Artifact, error) {
	a, err := c.Artifact(ctx.Param("catalog"), ctx.Param("name"), version)
	if err != nil {
		return nil, apiError(err)
	}
	return a, nil
}

func (c *Catalog) handleGet(ctx echo.Context) error {
	a, err := c.lookup(ctx, ctx.Param("version"))
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, c.artifactJSON(a, true))
}

func (c *Catalog) handleSums(ctx echo.Context) error {
	a, err := c.lookup(ctx, ctx.Param("version"))
	if err != nil {
		return err
	}
	if a.State != catalogapi.Published {
		return apiError(fmt.Errorf("%s: %w: %s", a.ID(), ErrExpunged, a.Reason))
	}
	return ctx.Blob(http.StatusOK, "text/plain; charset=utf-8", SHA256Sums(a))
}

func (c *Catalog) handleTorrent(ctx echo.Context) error {
	version, ok := strings.CutSuffix(ctx.Param("file"), ".torrent")
	if !ok {
		return apiError(fmt.Errorf("%w: torrents are at /t/<catalog>/<name>/<version>.torrent", ErrNotFound))
	}
	a, err := c.lookup(ctx, version)
	if err != nil {
		return err
	}
	if a.State != catalogapi.Published {
		return apiError(fmt.Errorf("%s: %w: %s", a.ID(), ErrExpunged, a.Reason))
	}
	b, err := c.Torrent(a)
	if err != nil {
		return err
	}
	h := ctx.Response().Header()
	h.Set("Content-Type", "application/x-bittorrent")
	h.Set("Content-Disposition", disposition.Attachment(a.Root+".torrent"))
	// The url-list changes as relays come and go: validate by content, not by date.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", fmt.Sprintf(`"%x"`, sha256.Sum256(b)))
	byterange.ServeContent(ctx.Response(), ctx.Request(), "", time.Time{}, bytes.NewReader(b), int64(len(b)))
	return nil
}

func (c *Catalog) handleDeclare(ctx echo.Context) error {
	var up *catalogapi.Upload
	err := c.readSigned(ctx.Request(), manifest.MaxBytes, c.adminOrPublisher, func(p *principal, body []byte) error {
		decl, err := manifest.Decode(bytes.NewReader(body), false)
		if err != nil {
			return err
		}
		up, err = c.declare(p, decl)
		return err
	})
	if err != nil {
		return apiError(err)
	}
	ctx.Response().Header().Set("Location", "/api/v1/uploads/"+up.ID)
	return ctx.JSON(http.StatusCreated, up)
}

func uploadID(ctx echo.Context) (string, error) {
	id := ctx.Param("id")
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", apiError(fmt.Errorf("upload id is not 32 lower-case hex digits: %w", ErrNotFound))
	}
	return id, nil
}

func (c *Catalog) handleReceive(ctx echo.Context) error {
	id, err := uploadID(ctx)
	if err != nil {
		return err
	}
	r := ctx.Request()
	// A cancelled upload (its publisher revoked) fails a read waiting for bytes by the
	// connection's read deadline, until the handler is done with the connection.
	rc := http.NewResponseController(ctx.Response())
	var mu sync.Mutex
	done := false
	interrupt := func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			_ = rc.SetReadDeadline(time.Now())
		}
	}
	up, err := c.receive(r.Context(), id, r.Body, r.ContentLength, interrupt)
	mu.Lock()
	done = true
	mu.Unlock()
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusOK, up)
}

func (c *Catalog) handleCommit(ctx echo.Context) error {
	id, err := uploadID(ctx)
	if err != nil {
		return err
	}
	var a *Artifact
	err = c.readSigned(ctx.Request(), manifest.MaxBytes, c.adminOrPublisher, func(p *principal, body []byte) error {
		a, err = c.commit(ctx.Request().Context(), p, id, body)
		return err
	})
	if err != nil {
		return apiError(err)
	}
	ctx.Response().Header().Set("Location", "/api/v1/artifacts/"+a.ID())
	return ctx.JSON(http.StatusCreated, c.artifactJSON(a, true))
}

func (c *Catalog) handleAbort(ctx echo.Context) error {
	id, err := uploadID(ctx)
	if err != nil {
		return err
	}
	if err := c.abort(id); err != nil {
		return apiError(err)
	}
	return ctx.NoContent(http.StatusNoContent)
}

// readAdmin reads an admin-signed request and decodes its JSON body into v (if not nil).
func (c *Catalog) readAdmin(ctx echo.Context, v any) error {
	err := c.readSigned(ctx.Request(), smallBodyMax, c.adminOrPublisher, func(p *principal, body []byte) error {
		if !p.admin {
			return fmt.Errorf("%w: key %s is not an admin key", ErrForbidden, p.keyID)
		}
		if v == nil {
			return nil
		}
		return decodeStrict(body, v)
	})
	if err != nil {
		return apiError(err)
	}
	return nil
}

func (c *Catalog) handleListPublishers(ctx echo.Context) error {
	if err := c.readAdmin(ctx, nil); err != nil {
		return err
	}
	pubs, err := c.Publishers(ctx.Request().Context())
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, map[string]any{"publishers": pubs})
}

func (c *Catalog) handleAddPublisher(ctx echo.Context) error {
	var req catalogapi.AddPublisherRequest
	if err := c.readAdmin(ctx, &req); err != nil {
		return err
	}
	p, err := c.AddPublisher(ctx.Request().Context(), req.Name, req.PublicKey, req.Catalogs)
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusCreated, p)
}

func (c *Catalog) handleRevokePublisher(ctx echo.Context) error {
	if err := c.readAdmin(ctx, nil); err != nil {
		return err
	}
	if err := c.RevokePublisher(ctx.Request().Context(), ctx.Param("name")); err != nil {
		return apiError(err)
	}
	return ctx.NoContent(http.StatusNoContent)
}

func (c *Catalog) handleExpunge(ctx echo.Context) error {
	var req catalogapi.ExpungeRequest
	if err := c.readAdmin(ctx, &req); err != nil {
		return err
	}
	a, err := c.Expunge(ctx.Request().Context(), req.Artifact, req.Reason)
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusOK, c.artifactJSON(a, false))
}

func (c *Catalog) handleRegister(ctx echo.Context) error {
	var out *relayapi.Registered
	// Refusals of the key itself (revoked, an admin's) come before register, which logs
	// the rest: the directory's operator sees every relay left out for good.
	var who *principal
	resolve := func(ctx context.Context, p *principal) (deny, err error) {
		who = p
		return c.registeringRelay(ctx, p)
	}
	err := c.readSigned(ctx.Request(), smallBodyMax, resolve, func(p *principal, body []byte) error {
		var reg relayapi.Register
		if err := decodeStrict(body, &reg); err != nil {
			return err
		}
		var err error
		out, err = c.register(ctx.Request().Context(), p, &reg)
		return err
	})
	if errors.Is(err, ErrForbidden) && who != nil {
		c.logRefusal(who, "", err)
	}
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusOK, out)
}

func (c *Catalog) handleHeartbeat(ctx echo.Context) error {
	var plan *relayapi.Plan
	err := c.readSigned(ctx.Request(), c.cfg.Relays.heartbeatBodyMax(), c.relayByKey, func(p *principal, body []byte) error {
		var hb relayapi.Heartbeat
		if err := decodeStrict(body, &hb); err != nil {
			return err
		}
		var err error
		plan, err = c.heartbeat(ctx.Request().Context(), p, &hb)
		return err
	})
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusOK, plan)
}

func (c *Catalog) handleListRelays(ctx echo.Context) error {
	limit := DefaultRelayPage
	if q := ctx.QueryParam("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > MaxRelayPage {
			return apiError(fmt.Errorf("%w: limit %q is not 1 to %d", ErrInvalid, q, MaxRelayPage))
		}
		limit = n
	}
	return ctx.JSON(http.StatusOK, c.Relays(ctx.QueryParam("after"), limit))
}

func (c *Catalog) handleRelayState(state string) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		if err := c.readAdmin(ctx, nil); err != nil {
			return err
		}
		r, err := c.setRelayState(ctx.Request().Context(), ctx.Param("id"), state)
		if err != nil {
			return apiError(err)
		}
		return ctx.JSON(http.StatusOK, r)
	}
}

func (c *Catalog) handleClearRelay(ctx echo.Context) error {
	if err := c.readAdmin(ctx, nil); err != nil {
		return err
	}
	r, err := c.clearRelay(ctx.Request().Context(), ctx.Param("id"))
	if err != nil {
		return apiError(err)
	}
	return ctx.JSON(http.StatusOK, r)
}

// decodeStrict decodes a JSON body, refusing unknown fields, duplicate keys and anything
// else two JSON readers could read two ways (internal/jsonstrict).
func decodeStrict(body []byte, v any) error {
	if err := jsonstrict.Decode(body, v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// apiError gives err the HTTP status its sentinel means; the directory's error handler
// writes it as a problem+json body. Errors without a sentinel stay 500s.
func apiError(err error) error {
	status := Status(err)
	if status == http.StatusInternalServerError {
		return err
	}
	return echo.NewHTTPError(status, err.Error()).SetInternal(err)
}

// Status is the HTTP status code an error of this package (or of its inputs) means.
func Status(err error) int {
	for _, m := range []struct {
		err    error
		status int
	}{
		{ErrNotFound, http.StatusNotFound},
		{ErrExists, http.StatusConflict},
		{ErrDuplicateContent, http.StatusConflict},
		{ErrExpunged, http.StatusGone},
		{ErrUnauthorized, http.StatusUnauthorized},
		{ErrForbidden, http.StatusForbidden},
		{ErrInvalid, http.StatusBadRequest},
		{manifest.ErrInvalid, http.StatusBadRequest},
		{names.ErrInvalid, http.StatusBadRequest},
		{ErrDigestMismatch, http.StatusUnprocessableEntity},
		{ErrIndexVersion, http.StatusConflict},
		{ErrIndexMismatch, http.StatusUnprocessableEntity},
		{ErrTooLarge, http.StatusRequestEntityTooLarge},
		{ErrNoSpace, http.StatusInsufficientStorage},
		{ErrBusy, http.StatusServiceUnavailable},
	} {
		if errors.Is(err, m.err) {
			return m.status
		}
	}
	return http.StatusInternalServerError
}
