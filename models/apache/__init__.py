"""Apache's configuration: directives as users write them, and what Apache 2.4 makes of them.

``directives`` parses names and values; ``rules`` applies 2.4's defaults and start-up
adjustments (with the AH messages Apache logs); ``config_file`` reads them from httpd.conf and
what it includes (``config_tree`` walks the tree, ``envvars`` reads Debian's variables).
"""
