package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/certify"
	"github.com/banesco-verifier/verifier/internal/config"
)

const bankUsage = `usage: worker bank <command>
  token                                 fetch a token: status, lifetime and scope (never the token)
  check -mode mobile -reference R -phone 04141234567 -bank-id 0102 -date 2026-08-06 [-amount 1240.00]
  check -mode transfer -reference R [-amount 1240.00]
                                        one lookup: the masked request and reply, the bank's
                                        verdict and what the verifier would decide
  certify [-cases FILE] [-out DIR]      the certification cases; writes DIR/<date>/certify-<env>-<time>.md
They use the worker's configuration (BANESCO_*, DATABASE_URL, REDIS_URL) and its bank client;
checks take their slot from the limiter the workers share, so they are safe beside live workers.
certify with BANESCO_ENVIRONMENT unset or "sandbox" starts its own sandbox on a loopback port.`

// bankCommand runs `worker bank …` (docs/certification.md). getenv is
// os.Getenv in main; tests pass their own.
func bankCommand(ctx context.Context, cfg config.Config, getenv func(string) string, out io.Writer, log zerolog.Logger, args []string) error {
	if len(args) == 0 {
		return errors.New(bankUsage)
	}
	switch args[0] {
	case "token":
		return bankToken(ctx, getenv, out, log, args[1:])
	case "check":
		return bankCheck(ctx, cfg, getenv, out, log, args[1:])
	case "certify":
		return bankCertify(ctx, cfg, getenv, out, log, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(out, bankUsage)
		return nil
	}
	return fmt.Errorf("unknown bank command %q\n%s", args[0], bankUsage)
}

// bankConfig is the worker's bank configuration; its logger gets warnings
// only, as the command prints its own account of every call.
func bankConfig(getenv func(string) string, log zerolog.Logger) (banesco.Config, error) {
	bankCfg, err := banesco.ConfigFromEnv(getenv)
	if err != nil {
		return bankCfg, err
	}
	bankCfg.Logger = log.Level(max(log.GetLevel(), zerolog.WarnLevel))
	return bankCfg, nil
}

func bankToken(ctx context.Context, getenv func(string) string, out io.Writer, log zerolog.Logger, args []string) error {
	fs := flag.NewFlagSet("bank token", flag.ContinueOnError)
	fs.SetOutput(out)
	if err := fs.Parse(args); err != nil {
		return err
	}
	bankCfg, err := bankConfig(getenv, log)
	if err != nil {
		return err
	}
	// No limiter: a token request sends no check, and the client's cache is
	// what keeps token requests within the bank's budget.
	bank, err := certify.NewBank(bankCfg, nil)
	if err != nil {
		return err
	}
	info := bank.Token(ctx)
	if err := bank.WriteToken(out, info); err != nil {
		return err
	}
	if info.Err != nil {
		return errors.New("no token from the bank (see above)")
	}
	return nil
}

func bankCheck(ctx context.Context, cfg config.Config, getenv func(string) string, out io.Writer, log zerolog.Logger, args []string) error {
	fs := flag.NewFlagSet("bank check", flag.ContinueOnError)
	fs.SetOutput(out)
	mode := fs.String("mode", "mobile", "mobile (pago móvil) or transfer (Banesco→Banesco)")
	ref := fs.String("reference", "", "the payment's reference, as the customer typed it")
	phone := fs.String("phone", "", "pago móvil: the payer's phone, 04141234567")
	bankID := fs.String("bank-id", "", "pago móvil: the payer's bank, 4 digits")
	date := fs.String("date", "", "pago móvil: the payment date, YYYY-MM-DD (Venezuela time; default today)")
	amount := fs.String("amount", "", "the amount to match, e.g. 1240.00 (optional)")
	wait := fs.Duration("wait", certify.DefaultLimitWait, "how long to wait for a slot from the bank limiter")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := banesco.Query{Reference: *ref, Phone: *phone, BankID: *bankID, Date: *date, Amount: *amount}
	switch *mode {
	case "mobile":
		q.Mode = banesco.ModeMobile
		if q.Date == "" {
			q.Date = time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
		}
	case "transfer":
		q.Mode = banesco.ModeTransfer
	default:
		return fmt.Errorf("-mode %q: want mobile or transfer", *mode)
	}
	if q.Reference == "" {
		return errors.New("-reference is required")
	}
	bankCfg, err := bankConfig(getenv, log)
	if err != nil {
		return err
	}
	db, rdb, err := connect(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	defer rdb.Close()
	bank, err := certify.NewBank(bankCfg, bankLimiter(cfg, rdb, db, nil, nil))
	if err != nil {
		return err
	}
	res, err := bank.Check(ctx, q, *wait)
	if err != nil {
		return err
	}
	return bank.WriteCheck(out, res)
}

func bankCertify(ctx context.Context, cfg config.Config, getenv func(string) string, out io.Writer, log zerolog.Logger, args []string) error {
	fs := flag.NewFlagSet("bank certify", flag.ContinueOnError)
	fs.SetOutput(out)
	casesFile := fs.String("cases", certify.SandboxCases, "case file (a path, or the built-in cases/sandbox.json)")
	dir := fs.String("out", "evidence", "evidence folder: the report goes to <out>/<YYYY-MM-DD>/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cases, err := certify.LoadCases(*casesFile)
	if err != nil {
		return err
	}
	env := strings.TrimSpace(getenv("BANESCO_ENVIRONMENT"))
	opts := certify.Options{Environment: env, Cases: cases, CasesName: *casesFile, Progress: out}
	if env == "" || env == "sandbox" {
		sb, err := certify.StartSandbox()
		if err != nil {
			return err
		}
		defer sb.Close()
		getenv, opts.Environment, opts.Sandbox = sb.Getenv(getenv), "sandbox", sb.Admin()
		fmt.Fprintf(out, "sandbox serving on %s\n", sb.URL)
	}
	if opts.Bank, err = bankConfig(getenv, log); err != nil {
		return err
	}
	db, rdb, err := connect(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	defer rdb.Close()
	opts.Limiter = bankLimiter(cfg, rdb, db, nil, nil)
	rep, err := certify.Run(ctx, opts)
	if err != nil {
		return err
	}
	path, err := rep.WriteFile(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "evidence: %s\n", path)
	if !rep.Passed() {
		return fmt.Errorf("certification against %s: some cases failed (see %s)", opts.Environment, path)
	}
	fmt.Fprintf(out, "certification against %s: all %d cases passed\n", opts.Environment, len(rep.Cases))
	return nil
}
