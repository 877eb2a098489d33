"""The config's rules applied to every stored story, in a worker of the app (not of a screen, so leaving
the rules screen does not stop it): after the rules screen saved a change, and at start when the config's
rules differ from those last applied (edited by hand since). sync_rules decides: with the rule set last
applied it costs one settings read and writes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest.core.wording import count

if TYPE_CHECKING:
    from digest.core.rules import ApplyResult
    from digest.tui.app import DigestApp


def apply_config_rules(app: DigestApp) -> None:
    """Apply app.config.rules (no rules: the marks of earlier ones cleared); when something changed, say
    so and reload what is on screen (hidden stories leave the lists)."""
    rules = list(app.config.rules)

    def run() -> None:
        from digest.core.rules import sync_rules  # in the thread: rulespec's imports off the event loop

        store = app.open_worker_store()
        try:
            result = sync_rules(store, rules)
        except Exception as e:  # the store busy or damaged: said; the next start or refresh applies them
            app.call_from_thread(app.notify, f"Could not apply the rules: {e}", severity="error", timeout=10)
            return
        finally:
            store.close()
        if result is not None:
            app.call_from_thread(done, result)

    def done(result: ApplyResult) -> None:
        app.notify(f"{result.hidden:,} hidden, {result.kept:,} kept, {result.boosted:,} boosted "
                   f"({count(result.changed, 'story', 'stories', grouped=True)} "
                   "changed)", title="Rules applied", timeout=5)
        app.broadcast_data_changed()

    app.run_worker(run, thread=True, exclusive=True, group="rules-apply", exit_on_error=False)
