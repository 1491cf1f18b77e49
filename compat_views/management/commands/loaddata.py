"""loaddata, which in a legacy session of a rollout moves the sequences of the tables
behind its views (``compat_views.legacy_session`` says why).

With no rollout pending, or in any other session, it is the loaddata that would run
without compat_views (Django's, or that of an app listed after compat_views), unchanged.
"""

from compat_views import legacy_session
from compat_views.autodetector import underneath


class Command(underneath("loaddata")):
    def reset_sequences(self, connection, models):
        statements = legacy_session.sequence_resets(connection, models)
        if statements is None:
            return super().reset_sequences(connection, models)
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
