"""End to end on simulated worlds: Polku recovers the simulator's ground truth exactly
(identities, accounts, lifecycle stages), across seeds, once the wrong merges the
simulator planted (colleagues signing in on a shared device) are found and undone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from polku import Workspace
from polku.sim import SimParams, generate, write_world

# More shared devices than the default 1 %, so every seed plants a few wrong links.
PARAMS = SimParams(p_shared_device=0.05)


def rules_yaml(stage_rule: dict[str, list[str]]) -> str:
    """The simulator's stage rule written as Polku lifecycle rules."""
    rules = []
    for stage in ("prospect", "lead", "opportunity", "customer"):
        types = [t for t in stage_rule[stage] if ":" not in t]
        rules.append({"name": f"sim {stage}", "stage": stage, "types": types})
        for t in stage_rule[stage]:
            if ":" in t:
                etype, path = t.split(":", 1)
                rules.append({"name": f"sim {stage} {path}", "stage": stage, "types": [etype],
                              "properties": {"path": {"contains": path.rstrip("*")}}})
    return yaml.safe_dump({"lifecycle": {"rules": rules}})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_polku_recovers_the_simulated_truth(tmp_path: Path, seed: int) -> None:
    world = generate(40, seed=seed, events_per_account=150, params=PARAMS)
    files = write_world(world, tmp_path / "sim")
    truth = {c["email"]: c for c in world.truth["contacts"]}
    shared = world.truth["shared_devices"]
    assert shared, "the world must plant at least one shared device"
    home = tmp_path / "ws"
    home.mkdir()
    (home / "polku.yaml").write_text(rules_yaml(world.truth["stage_rule"]))
    with Workspace(home) as ws:
        ws.import_accounts(files["accounts"])
        ws.import_contacts(files["contacts"])
        assert ws.import_events(files["events"]).rejected == 0
        ws.refresh()
        # Each shared device is exactly one recorded merge, caused by the colleague's
        # identify on the owner's cookie; nothing else is merged.
        merges = ws.merges()
        found = []
        for s in shared:
            colleague = {f"email:{s['colleague']}"}
            if truth[s["colleague"]]["crm_id"]:
                colleague.add(f"crm:{truth[s['colleague']]['crm_id']}")
            mine = [
                m for m in merges
                if {m["link_a"], m["link_b"]} in ({f"anon:{s['anonymous_id']}", c} for c in colleague)
            ]
            assert len(mine) == 1, s
            assert mine[0]["cause"] == "identify" and mine[0]["ts"].isoformat() == s["ts"], (s, mine)
            found.append(mine[0]["merge_id"])
        assert sorted(found) == sorted(m["merge_id"] for m in merges)
        for merge_id in found:
            ws.unmerge(merge_id, reason="shared device")
        assert ws.merges() == []
        contacts = {r["email"]: r for r in ws.store.query("SELECT * FROM contacts WHERE email IS NOT NULL")}
    identified = {e for e, c in truth.items() if e in contacts}
    assert len(identified) == world.truth["n_identified"]
    linked: dict[str, set[str]] = {}
    for anon, email in world.truth["anonymous_links"]:
        linked.setdefault(email, set()).add(f"anon:{anon}")
    for email in identified:
        mine, real = contacts[email], truth[email]
        assert mine["stage"] == real["stage"], email
        assert mine["account_id"] == real["account_id"], email
        # Exactly the devices the person identified on; a device never identified stays a visitor.
        assert {i for i in mine["identities"] if i.startswith("anon:")} == linked.get(email, set()), email
