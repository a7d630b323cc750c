"""Apache's configuration: directives as users write them, and what Apache 2.4 makes of them.

``directives`` parses names and values; ``rules`` applies 2.4's defaults and start-up
adjustments (with the AH messages Apache logs); ``config_file`` reads them from httpd.conf and
what it includes (``config_tree`` walks the tree, ``includes`` finds the files an ``Include``
names, ``envvars`` reads Debian's variables).
"""

APACHE_PROGRAMS = ("apache2", "httpd")
"""The names a running Apache's processes start with (``/proc/PID/comm``: Debian's apache2,
upstream's httpd; SUSE's binaries are httpd-prefork, httpd-event ...)."""
