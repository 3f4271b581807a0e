"""Typed dependencies shared by the slices."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from hibachi.bootstrap import Container


def get_container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


ContainerDep = Annotated[Container, Depends(get_container)]
