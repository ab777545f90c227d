"""pungi_like's task handlers as a kojid plugin.

kojid loads plugins by file name from its ``pluginpath`` (default /usr/lib/koji-builder-plugins)
for each name in its ``plugins`` option, and registers every ``koji.tasks.BaseTaskHandler``
subclass it finds in the module. Link this file there under a name of your choice (the module
imports pungi_like absolutely, so the pungi_like package must be importable by kojid's Python,
3.11 or newer; where kojid runs an older Python, run pungi-like-builder, the same engine)::

    ln -s "$(python3 -c 'import pungi_like.buildsvc.builder.kojid_plugin as m; print(m.__file__)')" \\
        /usr/lib/koji-builder-plugins/pungi_like_tasks.py
    # /etc/kojid/kojid.conf, [kojid]:
    plugins = pungi_like_tasks

Plugins are scanned after kojid's own handlers, so the methods listed in :data:`METHODS` (ours:
build, buildArch, newRepo, createrepo, tagBuild, livecd, createLiveCD, image, createImage,
appliance, livemedia, runroot, ...) replace kojid's for that daemon; koji.tasks' own methods
(sleep, waittest, ...) are left to kojid. See doc/builder-tasks.md.
"""

import koji.tasks

from pungi_like.buildsvc.builder.kojitasks import PungiLikeTask, task_classes

# koji.tasks' own test handlers (sleep, waittest) stay kojid's
_KOJI_METHODS = {m for v in vars(koji.tasks).values() if isinstance(v, type)
                 and issubclass(v, koji.tasks.BaseTaskHandler) for m in v.Methods}
_CLASSES = {name: cls for name, cls in task_classes().items()
            if not set(cls.Methods) & _KOJI_METHODS}
globals().update(_CLASSES)
#: the task methods this plugin serves
METHODS = sorted(m for cls in _CLASSES.values() for m in cls.Methods)

__all__ = ["PungiLikeTask", "METHODS"] + sorted(_CLASSES)
