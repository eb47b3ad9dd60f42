"""User management pages (admin role): list, create, change role, delete.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from polku.web import passwords, users
from polku.web.site import Site
from polku.web.tables import Column, Table, csv_response, pick

NameField = Annotated[str, Form(max_length=64)]
CsrfField = Annotated[str, Form(max_length=128)]


def router(site: Site) -> APIRouter:
    """GET/POST /users, POST /users/{name}/role and /users/{name}/delete."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False)
    admin = site.needs("admin")

    def page(request: Request, *, message: str = "", new_password: str = "", status: int = 200,
             export: str | None = None) -> Response:
        table = Table("users", "Users", [Column("name", "Name"), Column("role", "Role"),
                      Column("created_at", "Created", "when"), Column("sessions", "Open sessions", "number")],
                      users.list_users(site.ws.store))
        if export:
            return csv_response(pick([table], export), "users")
        return site.render(request, "users.html", status=status, title="Users", tables={"users": table},
                           roles=users.ROLES, message=message, new_password=new_password)

    @api.get("/users")
    def list_page(request: Request, user: Annotated[users.SignedIn, Depends(admin)],
                  export: str | None = None, done: str | None = None) -> Response:
        """Everyone who may sign in, with their roles."""
        return page(request, message=done or "", export=export)

    @api.post("/users")
    async def create(request: Request, user: Annotated[users.SignedIn, Depends(admin)], name: NameField,
                     role: Annotated[str, Form()], csrf: CsrfField,
                     password: Annotated[str, Form(max_length=1024)] = "") -> Response:
        """Add a user; with no password given, one is generated and shown once."""
        site.check_form(request, user, csrf)
        chosen = password or passwords.new_password()
        await site.write(request, lambda: users.create_user(site.ws.store, name.strip(), role, chosen))
        return page(request, status=201, message=f"Created {name.strip()} ({role}).",
                    new_password="" if password else chosen)

    @api.post("/users/{name}/role")
    async def change_role(request: Request, name: str, user: Annotated[users.SignedIn, Depends(admin)],
                          role: Annotated[str, Form()], csrf: CsrfField) -> Response:
        """Give a user another role; it applies to their open sessions at once."""
        site.check_form(request, user, csrf)
        await site.write(request, lambda: users.set_role(site.ws.store, name, role))
        return RedirectResponse(f"/users?done={name}+is+now+{role}.", status_code=303)

    @api.post("/users/{name}/delete")
    async def delete(request: Request, name: str, user: Annotated[users.SignedIn, Depends(admin)],
                     csrf: CsrfField) -> Response:
        """Delete a user and end their sessions."""
        site.check_form(request, user, csrf)
        await site.write(request, lambda: users.delete_user(site.ws.store, name))
        return RedirectResponse(f"/users?done=Deleted+{name}.", status_code=303)

    return api
