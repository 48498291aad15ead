"""E-mail notifications over SMTP (standard library ``smtplib``), and the texts of every notification.

The job text is the one the MediaConvert watch-folder sample sends through SNS::

    Job <jobId> finished with status <status>. Job details: <link>

with the link pointing at this server's ``GET /api/jobs/<jobId>`` instead of the AWS console (the sample's link
needs the region the tutorial forgot to map; here it cannot be wrong). ERROR jobs also get their error code and
message on a second line, which the sample left out.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mie.consumers.notify_settings import SmtpServer
from mie.consumers.webhooks import Outcome
from mie.errors import InvalidError
from mie.types import JSONDict

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+\Z")


def check_email(address: object) -> str:
    """An e-mail address (``user@example.com``), or :class:`InvalidError` saying what is wrong with it."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidError("Email must be a non-empty string such as 'ops@example.com'")
    address = address.strip()
    if len(address) > 254 or not _EMAIL.match(address) or ".." in address.split("@")[0]:
        raise InvalidError(f"Email {address!r} is not an e-mail address such as 'ops@example.com'")
    return address


def job_text(detail: JSONDict, public_url: str) -> str:
    """The sample's sentence for a MediaConvert COMPLETE/ERROR event ``detail``."""
    job_id = str(detail.get("jobId", ""))
    status = str(detail.get("status", ""))
    text = f"Job {job_id} finished with status {status}. Job details: {public_url}/api/jobs/{job_id}"
    if status == "ERROR" and (detail.get("errorCode") is not None or detail.get("errorMessage")):
        text += f"\nError {detail.get('errorCode', '')}: {detail.get('errorMessage', '')}".rstrip(": ")
    return text


def execution_text(event: JSONDict, public_url: str) -> str:
    """One sentence for a workflow execution status change (a ``WorkflowExecution`` change payload)."""
    execution_id = str(event.get("Id", ""))
    text = f"Workflow execution {execution_id} on asset {event.get('AssetId')} is now {event.get('Status')}"
    if event.get("CurrentStage"):
        text += f" (stage {event['CurrentStage']})"
    text += f". Execution details: {public_url}/api/workflow/execution/{execution_id}"
    if event.get("Message"):
        text += f"\n{event['Message']}"
    return text


def send(smtp: SmtpServer | None, to: str, subject: str, text: str, *, delivery_id: str) -> Outcome:
    """Send one plain-text e-mail; never raises for SMTP or network failures (they are the outcome)."""
    if smtp is None:
        return Outcome(False, None, "e-mail is not configured on this server: set MIE_SMTP_HOST")
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=delivery_id)
    message["X-Mie-Delivery"] = delivery_id
    message.set_content(text)
    try:
        client: smtplib.SMTP
        if smtp.ssl:
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user is not None and smtp.password is not None:
                client.login(smtp.user, smtp.password)
            refused = client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code}: {detail}"[:500])
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
    if refused:
        return Outcome(False, None, f"the SMTP server refused {', '.join(refused)}")
    return Outcome(True, 250)
