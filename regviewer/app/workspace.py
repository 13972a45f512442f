"""The images of a registration: fixed, moving, their label maps and masks, and the current transform.

Qt-free, with events (psygnal): the window and the CLI both hold one ``Workspace``. State that
belongs to an image goes with it: replacing the moving image drops the moving label map and mask
(unless new ones come in the same call), replacing the fixed image drops the fixed ones, so a
label map can never be shown or scored on an image it was not drawn on. Label maps, masks and a
transform of another dimension than the new images are dropped too, never misapplied.

``snapshot()`` holds references (source paths and names), never arrays: session files store the
images as files and give them back to ``restore``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psygnal import Signal

from regviewer.core.image import Image
from regviewer.core.io.label_channels import LabelFile
from regviewer.core.transforms import Transform

IMAGE_ROLES = ("fixed", "moving")
ROLES = ("fixed", "moving", "fixed_labels", "moving_labels", "fixed_mask", "moving_mask")
BELONGS_TO = {"fixed": ("fixed_labels", "fixed_mask"), "moving": ("moving_labels", "moving_mask")}
SNAPSHOT_VERSION = 1


class Workspace:
    """Images, label maps, masks and the current fixed -> moving transform (see the module docstring).

    Events:
        changed(tuple[str, ...]): the roles that changed ("transform" included) after every change.
    """

    changed = Signal(tuple)

    def __init__(self) -> None:
        self._images: dict[str, Image | None] = dict.fromkeys(ROLES)
        self._sources: dict[str, str | None] = dict.fromkeys(ROLES)
        self._options: dict[str, dict[str, Any]] = {}  # how a role's file was read, e.g. a label channel
        self._transform: Transform | None = None
        self.transform_source: str | None = None

    # ---- reading ------------------------------------------------------------------------------
    def image(self, role: str) -> Image | None:
        return self._images[_checked_role(role)]

    def source(self, role: str) -> str | None:
        """The file a role was read from (None: none loaded, or given as an Image)."""
        return self._sources[_checked_role(role)]

    def source_options(self, role: str) -> dict[str, Any]:
        """How the role's file was read beyond its path (``{"label_channel": 0}`` for one channel of a 4D label
        file, ``{"label_channel": "onehot"}`` for its integer map; empty for an ordinary file)."""
        return dict(self._options.get(_checked_role(role), {}))

    @property
    def sources(self) -> dict[str, str | None]:
        return {role: path for role, path in self._sources.items() if self._images[role] is not None}

    fixed = property(lambda self: self._images["fixed"])
    moving = property(lambda self: self._images["moving"])
    fixed_labels = property(lambda self: self._images["fixed_labels"])
    moving_labels = property(lambda self: self._images["moving_labels"])
    fixed_mask = property(lambda self: self._images["fixed_mask"])
    moving_mask = property(lambda self: self._images["moving_mask"])

    @property
    def transform(self) -> Transform | None:
        return self._transform

    @property
    def reference(self) -> Image | None:
        """The image that defines the display space (fixed, else moving)."""
        return self.fixed if self.fixed is not None else self.moving

    @property
    def ready(self) -> bool:
        """Both images are loaded: a registration can run."""
        return self.fixed is not None and self.moving is not None

    # ---- changing -----------------------------------------------------------------------------
    def planned(self, replace_all: bool = False, **items: Any) -> dict[str, Any]:
        """The content after ``set_content(replace_all, **items)`` without applying it (for validation)."""
        content: dict[str, Any] = dict(self._images, transform=self._transform)
        if replace_all:
            content = dict.fromkeys(content)
        given = {role: value for role, value in items.items() if value is not None}
        for role in given:
            if role != "transform":
                _checked_role(role)
        for owner, dependents in BELONGS_TO.items():
            if owner in given and given[owner] is not self._images[owner]:
                for dependent in dependents:
                    content[dependent] = None  # belongs to the image being replaced
        content.update(given)
        reference = content["fixed"] if content["fixed"] is not None else content["moving"]
        if reference is not None:
            for role in ("fixed_labels", "moving_labels", "fixed_mask", "moving_mask", "transform"):
                kept = content[role]
                if role not in given and kept is not None and kept.ndim != reference.ndim:
                    content[role] = None  # belongs to images of another dimension
        return content

    def set_content(
        self, replace_all: bool = False, sources: Mapping[str, Any] | None = None, **items: Any
    ) -> tuple[str, ...]:
        """Replace any of the roles and "transform" (items given as None are kept; ``replace_all``:
        everything not given is dropped). ``sources``: the files the items came from (paths, or
        ``LabelFile``s that also name the channel of a 4D label file read: ``source_options``). Returns the
        roles that changed (also sent with ``changed``)."""
        content = self.planned(replace_all, **items)
        transform = content.pop("transform")
        changed = [role for role in ROLES if content[role] is not self._images[role]]
        sources = dict(sources or {})
        for role in ROLES:
            if content[role] is None or (role in changed and role not in sources):
                self._sources[role] = None
                self._options.pop(role, None)
            elif role in sources:
                self._sources[role], self._options[role] = _source_and_options(sources[role])
        self._images = content
        if transform is not self._transform:
            self._transform = transform
            self.transform_source = sources.get("transform")
            changed.append("transform")
        if changed:
            self.changed.emit(tuple(changed))
        return tuple(changed)

    def set_transform(self, transform: Transform | None, source: str | None = None) -> None:
        """Show another fixed -> moving transform (None: identity)."""
        if transform is self._transform:
            return
        self._transform, self.transform_source = transform, source
        self.changed.emit(("transform",))

    # ---- sessions -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """References only: per role its source file and name; whether a transform is shown."""
        roles: dict[str, dict[str, Any]] = {}
        for role in ROLES:
            image = self._images[role]
            if image is not None:
                roles[role] = {
                    "source": self._sources[role],
                    "name": image.name,
                    "shape": list(image.shape),
                    "is_label": bool(image.is_label),
                }
                if self._options.get(role):
                    roles[role]["options"] = dict(self._options[role])
        return {
            "version": SNAPSHOT_VERSION,
            "roles": roles,
            "has_transform": self._transform is not None,
            "transform_source": self.transform_source,
        }

    def restore(
        self, data: Mapping[str, Any], images: Mapping[str, Image] | None = None, transform: Transform | None = None
    ) -> tuple[str, ...]:
        """Take back a snapshot with the images the caller read again (roles missing there stay empty)."""
        images = dict(images or {})
        roles = data.get("roles", {})
        sources = {
            role: _as_source(entry.get("source"), entry.get("options") or {})
            for role, entry in roles.items()
            if role in ROLES
        }
        items = {role: images.get(role) for role in ROLES}
        changed = self.set_content(True, sources=sources, **items)
        if transform is not None:
            self.set_transform(transform, data.get("transform_source"))
        return changed


def _source_and_options(source: Any) -> tuple[str | None, dict[str, Any]]:
    """A path, or a LabelFile's path and the channel it names."""
    if isinstance(source, LabelFile):
        return source.path, ({} if source.channel is None else {"label_channel": source.channel})
    return (None if source is None else str(source)), {}


def _as_source(path: str | None, options: Mapping[str, Any]) -> str | LabelFile | None:
    """The inverse of ``_source_and_options``."""
    if path is not None and options.get("label_channel") is not None:
        return LabelFile(path, options["label_channel"])
    return path


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown image role {role!r} (choose from {', '.join(ROLES)})")
    return role
