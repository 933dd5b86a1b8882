"""The assembled service: settings, database, clock, dispatcher, sender; built by a factory, never at import."""

from __future__ import annotations

from dataclasses import dataclass

from bot.delivery import LocalTransport, Sender, Transport
from bot.secret_key import keyring as make_keyring
from bot.settings import Settings
from handlers.dispatch import Dispatcher
from storage.clock import Clock
from storage.db import Database
from storage.secrecy import Keyring


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    dispatcher: Dispatcher
    sender: Sender
    keyring: Keyring

    def close(self) -> None:
        self.db.dispose()


def build_services(settings: Settings, *, clock: Clock | None = None, transport: Transport | None = None) -> Services:
    clock = clock or Clock()
    db = Database(settings.database_url)
    transport = transport or make_transport(settings)
    keyring = make_keyring(settings)
    sender = Sender(db, transport, clock)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        dispatcher=Dispatcher(db, clock, sender.wakeup, keyring=keyring),
        sender=sender,
        keyring=keyring,
    )


def make_transport(settings: Settings) -> Transport:
    """WeCom's API when the app can send, otherwise local delivery that the simulator shows."""
    if settings.sending_enabled:
        from bot.channels.wecom_transport import WeComTransport

        return WeComTransport(settings)
    return LocalTransport()
