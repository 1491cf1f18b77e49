"""Release 2's settings: the shared ones; this release changes nothing but its label."""

from demo_project.common.settings import *  # noqa: F403

RELEASE = "release 2"
