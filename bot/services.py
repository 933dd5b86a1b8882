"""The assembled service: settings, database, clock, dispatcher, sender; built by a factory, never at import."""

from __future__ import annotations

from dataclasses import dataclass

from bot.delivery import LocalTransport, Sender, Transport
from bot.heap import HeapKeeper
from bot.lane import TurnLane
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
    lane: TurnLane  # where the callbacks' messages are handled, several in one transaction

    def close(self) -> None:
        self.lane.close()
        self.sender.close()
        self.db.dispose()


def build_services(settings: Settings, *, clock: Clock | None = None, transport: Transport | None = None) -> Services:
    clock = clock or Clock()
    db = Database(settings.database_url)
    db.checkpoint_in_background()  # a commit on the event loop must not wait for the WAL's fsync
    transport = transport or make_transport(settings, db)
    keyring = make_keyring(settings)
    sender = Sender(db, transport, clock, workers=settings.send_workers)
    dispatcher = Dispatcher(db, clock, sender.wakeup, keyring=keyring)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        dispatcher=dispatcher,
        sender=sender,
        keyring=keyring,
        lane=TurnLane(
            dispatcher,
            batch=settings.turn_batch,
            on_loop=settings.turn_on_loop,
            flights=settings.turn_flights,
            heap=HeapKeeper(enabled=settings.gc_freeze),
        ),
    )


def make_transport(settings: Settings, db: Database | None = None) -> Transport:
    """WeCom's API when the app can send, otherwise local delivery that the simulator shows."""
    if settings.sending_enabled:
        from bot.channels.wecom_transport import WeComTransport

        return WeComTransport(settings, files=stored_file_loader(db) if db else None)
    return LocalTransport()


def stored_file_loader(db: Database):
    """A file's name and bytes by id, read in its own short read transaction (the sender holds none)."""
    from storage import files

    def load(file_id: int) -> tuple[str, bytes] | None:
        with db.read() as session:
            row = files.by_id(session=session, file_id=file_id)
            return (row.name, bytes(row.data)) if row else None

    return load
