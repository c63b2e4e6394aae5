"""The workbench: server-rendered pages for pharmacist reviewers, prescribers' staff and the
plan's staff, and decision letters. An adapter like the JSON routes: every change of state is a
call into the workflow (priorauth.service.workflow). `priorauth.web.app.mount` puts it on the
service's application (priorauth.server)."""
