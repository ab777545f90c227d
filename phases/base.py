"""The base class of every phase: declare units, validate config, say why it is skipped."""

import os

from pungi_like.scheduler import Unit


class PhaseBase:
    #: the phase name used by --skip-phase/--just-phase and in unit names
    name = None
    #: Pungi's spelling where it differs (accepted by --skip-phase)
    aliases = ()
    #: a phase that can never be skipped
    never_skip = False

    def __init__(self, compose):
        self.compose = compose
        self.conf = compose.conf
        self.paths = compose.paths
        self.log = compose.log

    def skip_reason(self):
        """A sentence saying why this phase does nothing in this compose, or None."""
        return None

    def validate(self):
        """Phase-level config checks; a list of messages (empty when fine)."""
        return []

    def units(self):
        """The units of work of this phase, with what each needs."""
        return []

    def start_early(self):
        """Called once every phase declared its units, before any unit runs: work a unit of
        this phase will need that may begin now (a child process; nothing by default)."""

    def end_early(self):
        """Called after the units ran (or failed): what :meth:`start_early` began and no unit
        took is stopped."""

    def default_inputs(self, variant, arch):
        """What a unit's result depends on, unless the phase says more: the phase's own options
        (as declared next to it) for this variant.arch. The scheduler adds the results of the
        units it needs."""
        import sys

        module = sys.modules.get(type(self).__module__)
        names = sorted(o.name for o in getattr(module, "OPTIONS", []))
        return {
            "phase": self.name,
            "variant": getattr(variant, "uid", variant),
            "arch": arch,
            "options": {name: getattr(self.conf, name, None) for name in names},
        }

    def log_path(self, arch=None, variant=None, name=None):
        """``logs/<arch>/<name>[-<V>].<arch>.log``."""
        base = name or self.name
        if variant is not None:
            base += "-" + getattr(variant, "uid", variant)
        return self.paths.log_file(arch or "global", base)

    def unit(self, scope, run, variant=None, arch=None, **kwargs):
        """A unit named ``<phase>.<scope>`` logging to this phase's log for variant.arch."""
        kwargs.setdefault("log_path", self.log_path(arch, variant))
        kwargs.setdefault("inputs", self.default_inputs(variant, arch))
        return Unit(name=f"{self.name}.{scope}", run=run, variant=variant, arch=arch,
                    phase=self.name, **kwargs)


class ImageOptionsMixin:
    """Pungi's ``ImageConfigMixin`` look-up for phases of image blocks: a key of the block,
    else ``<option_prefix>_<key>``, else ``global_<key>``."""

    #: the prefix of the phase's default options (``live_media``, ``image_build`` ...)
    option_prefix = None

    def value(self, block, key):
        if block.get(key) is not None:
            return block[key]
        for name in (f"{self.option_prefix}_{key}", f"global_{key}"):
            value = getattr(self.conf, name, None)
            if value is not None:
                return value
        return None

    def flat_kickstart(self, block, variant):
        """The block's kickstart with its %include chain expanded (one file is uploaded, as
        the koji CLI uploads one), written to ``work/global/<option_prefix>/``; errors name the
        file and line."""
        from pungi_like.buildsvc.builder.kickstart import KickstartFileError, flatten_includes
        from pungi_like.errors import PhaseError
        from pungi_like.fileutil import write_atomic

        source = self.conf.resolve_path(block["kickstart"])
        try:
            flat = flatten_includes(source)
        except KickstartFileError as exc:
            raise PhaseError(f"{self.option_prefix} kickstart {block['kickstart']}: "
                             f"{exc}") from None
        target = os.path.join(self.paths.work_dir("global", create=True), self.option_prefix,
                              f"{variant.uid}-{block['name']}.ks")
        write_atomic(target, flat.text)
        return target
