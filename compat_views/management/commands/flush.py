"""flush, which keeps a pending rollout's state, in a legacy session also empties the
tables behind its views, and empties the tables outside the models that reference
theirs (``compat_views.legacy_session`` says why).

Otherwise it is the flush that would run without compat_views (Django's, or that of an
app listed after compat_views), unchanged.
"""

from django.core.management.sql import emit_post_migrate_signal
from django.db import connections

from compat_views import legacy_session
from compat_views.autodetector import underneath
from compat_views.errors import RolloutConflict


class Command(underneath("flush")):
    def handle(self, **options):
        database = options["database"]
        connection = connections[database]
        found = legacy_session.flush_tables(connection)
        if found is None:
            return super().handle(**options)
        if options["interactive"]:
            raise RolloutConflict(
                "A rollout is pending on this database: flush would empty tables both colours "
                "use. Pass --noinput if that is what you mean."
            )
        statements = legacy_session.truncate(
            found,
            reset_sequences=options.get("reset_sequences", True),
            allow_cascade=options.get("allow_cascade", False),
        )
        connection.ops.execute_sql_flush(statements)
        if statements and not options.get("inhibit_post_migrate", False):
            emit_post_migrate_signal(options["verbosity"], False, database)
