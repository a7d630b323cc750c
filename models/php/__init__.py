"""PHP as Apache runs it: PHP-FPM pools (settings, FPM's own checks, ``www.conf`` files) and units.

Owns what PHP-FPM itself decides about a pool before it serves anything: its defaults and the
checks ``php-fpm -t`` makes (``pool``), reading pool files in FPM's ini format with ``include``
(``ini``), and PHP's and FPM's units (``units``: ``128M``, ``10s``).

May import: the errors. Never the engine, the spec, an application or the command line.
"""
