"""`tripline policy check FILE`, `tripline policy explain ITEM` and
`tripline check-prompt`.

Exit codes: ``policy check`` 0 valid, 2 invalid. ``policy explain`` 0, or 2
when the item or policy cannot be read. ``check-prompt`` 0 allow, 1 deny,
3 review (the strongest verdict over all prompts given), 2 on errors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tripline.cli.common import DbOpt, fail

policy_app = typer.Typer(help="Decision policies: validate them, explain their decisions.", no_args_is_help=True)

PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", help="Policy file (default: the policy shipped with Tripline).")
]


def _load(path: Path | None):
    from tripline.policy import PolicyError, default_policy, load_policy

    try:
        return load_policy(path) if path is not None else default_policy()
    except PolicyError as exc:
        # Plain echo, not the rich console: the caret under the expression
        # must stay aligned, so the message cannot be re-wrapped.
        typer.echo(f"error: invalid policy: {exc}", err=True)
        raise typer.Exit(2) from None


@policy_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="Policy file (TOML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    db: DbOpt = None,
) -> None:
    """Validate a policy file and open every classifier it configures; print
    what it defines, or the first error."""
    policy = _load(file)
    classifiers = _check_classifiers(policy, db)
    summary = {
        **policy.meta,
        "rules": [r.name for r in policy.rules],
        "gate": [g.name for g in policy.gate],
        "lexicons": {n: len(lex.terms) for n, lex in sorted(policy.text_rules.lexicons.items())},
        "text_rules": [r.name for r in policy.text_rules.rules],
        "sets": {n: len(v) for n, v in sorted(policy.sets.items())},
        "classifiers": classifiers,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"ok: {policy.name} {policy.version} (sha256 {policy.sha256})")
    typer.echo(
        f"  {len(policy.rules)} rules, {len(policy.gate)} prompt-gate rules, "
        f"{len(summary['lexicons'])} lexicons, {len(summary['text_rules'])} text rules, {len(summary['sets'])} sets"
    )
    for name, c in classifiers.items():
        typer.echo(
            f"  classifier {name}: {c['type']} {c['model']}"
            + (f" (credential {c['credential']})" if c["credential"] else "")
        )


def _check_classifiers(policy, db: str | None) -> dict:
    if not policy.classifiers:
        return {}
    from tripline.classifiers.check import ClassifierConfigError, check_classifiers

    store = None
    if any(s.remote for s in policy.classifiers.values()):
        from tripline import config
        from tripline.store import Store

        try:
            store = Store(config.db_url(db, config.home_dir(None)))
        except Exception as exc:  # noqa: BLE001
            fail(f"cannot open database to check classifier credentials: {exc}")
    try:
        return check_classifiers(policy, store.engine if store else None)
    except ClassifierConfigError as exc:
        typer.echo(f"error: invalid policy: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if store is not None:
            store.close()


def _read_item(item: Path, key: str | None) -> dict:
    try:
        text = item.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {item}: {exc.strerror or exc}")
    if key is None:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"{item}: not one JSON record ({exc.msg}); for results.jsonl give --key KEY")
        if not isinstance(record, dict):
            fail(f"{item}: expected a JSON object")
        return record
    found = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            fail(f"{item}:{lineno}: not JSON")
        # A resumed run can log an item again; the last line is current.
        if isinstance(record, dict) and record.get("key") == key:
            found = record
    if found is None:
        fail(f"no record with key {key!r} in {item}")
    return found


@policy_app.command("explain")
def explain(
    item: Annotated[Path, typer.Argument(help="JSON file holding one scan record, or results.jsonl with --key.")],
    key: Annotated[str | None, typer.Option("--key", help="Item key to pick from a results.jsonl.")] = None,
    policy: PolicyOpt = None,
    context: Annotated[
        Path | None,
        typer.Option(
            "--context", help="JSON file with the post/account context (caption, hashtags, bio, links, banks)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> None:
    """Show which rules fired for an item, and why."""
    from tripline.policy import decide, decision_label
    from tripline.policy.explain import explain_dict, explain_text

    record = _read_item(item, key)
    ctx = record.get("context") if isinstance(record.get("context"), dict) else None
    if context is not None:
        try:
            ctx = json.loads(context.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            fail(f"cannot read context {context}: {exc}")
    decision = decide(_load(policy), record, ctx)
    label = record.get("key")
    stored = record.get("decision") if isinstance(record.get("decision"), dict) else None
    # An auditor re-running a stored decision needs to know when it no longer
    # reproduces (another policy, or another context than the scan had).
    differs = stored is not None and stored != decision.to_dict()
    if as_json:
        out = explain_dict(decision, label)
        if stored is not None:
            out["stored_decision"] = stored
            out["stored_decision_reproduced"] = not differs
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    typer.echo(explain_text(decision, label), nl=False)
    if stored is not None:
        if differs:
            sp = stored.get("policy") or {}
            typer.echo(
                f"note: the stored decision differs: {decision_label(stored)} by policy "
                f"{sp.get('name')} {sp.get('version')} (sha256 {str(sp.get('sha256'))[:16]})"
            )
        else:
            typer.echo("note: the stored decision is reproduced exactly")


def check_prompt(
    prompt: Annotated[str | None, typer.Argument(help="The prompt (omit with --file).")] = None,
    negative: Annotated[str | None, typer.Option("--negative", help="The negative prompt.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Check every line of this file as a prompt ('-' for stdin).")
    ] = None,
    policy: PolicyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per prompt.")] = False,
) -> None:
    """Prompt gate for image-generation services: allow, review or deny."""
    from tripline.policy import check_prompt as gate

    if (prompt is None) == (file is None):
        fail("give a PROMPT or --file FILE")
    pol = _load(policy)
    if file is not None:
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror or exc}")
        prompts = [line for line in text.splitlines() if line.strip()]
    else:
        prompts = [prompt]
    rank = {"allow": 0, "review": 1, "deny": 2}
    worst = "allow"
    for text in prompts:
        result = gate(text, negative, policy=pol)
        if rank[result.verdict] > rank[worst]:
            worst = result.verdict
        if as_json:
            typer.echo(json.dumps({"prompt": text, **result.to_dict()}, ensure_ascii=False))
            continue
        rules = ", ".join(f.rule for f in result.fired)
        typer.echo(f"{result.verdict}" + (f"  ({rules})" if rules else "") + (f"  {text}" if file is not None else ""))
    raise typer.Exit({"allow": 0, "deny": 1, "review": 3}[worst])


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
    app.command("check-prompt")(check_prompt)
