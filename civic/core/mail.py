"""Outgoing e-mail: always written to the outbox table; sent by SMTP in a job when configured."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import current_app, render_template

from civic.core.models import OutboxMessage
from civic.core.time import utcnow
from civic.extensions import db


def queue_email(recipient: str, subject: str, template: str, **context) -> OutboxMessage:
    """Render an e-mail into the outbox (caller commits) ; delivery runs as a job after commit."""
    body = render_template(template, **context)
    message = OutboxMessage(recipient=recipient, subject=subject, body=body)
    db.session.add(message)
    db.session.flush()
    return message


def deliver_outbox_message(message_id: int) -> str:
    """Job: send one outbox message by SMTP, or log it in development; safe to run twice."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status == "sent":
        return "skipped"
    config = current_app.config
    if config["CIVIC_SMTP_HOST"]:
        email = EmailMessage()
        email["From"] = config["CIVIC_MAIL_SENDER"]
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email.set_content(message.body)
        with smtplib.SMTP(config["CIVIC_SMTP_HOST"], config["CIVIC_SMTP_PORT"], timeout=20) as smtp:
            if config["CIVIC_SMTP_STARTTLS"]:
                smtp.starttls()
            if config["CIVIC_SMTP_USER"]:
                smtp.login(config["CIVIC_SMTP_USER"], config["CIVIC_SMTP_PASSWORD"])
            smtp.send_message(email)
        message.status = "sent"
    else:
        current_app.logger.info(
            "E-mail to %s: %s\n%s", message.recipient, message.subject, message.body
        )
        message.status = "logged"
    message.sent_at = utcnow()
    db.session.commit()
    return message.status
