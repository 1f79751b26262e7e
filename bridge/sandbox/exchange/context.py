"""Who a request acts for, and which folders and items it may touch.

The service account reaches a mailbox either by impersonation (ExchangeImpersonation header: the request
acts as that user) or as a delegate (no such header: the mailbox comes from the folder id's Mailbox element,
else from X-AnchorMailbox). Rights are per mailbox flags set by the sandbox owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import series
from .items_xml import local
from .model import CalendarItem, Folder, Mailbox
from .settings import SandboxTimings
from .store import Store
from .subscriptions import SubscriptionHub
from .wire import Element, EWSError, t


class AccessFault(Exception):
    """A request-level failure Exchange reports as a SOAP fault (HTTP 500), e.g. impersonation denied."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass
class RequestContext:
    store: Store
    hub: SubscriptionHub
    impersonated: Mailbox | None
    anchor: str | None
    timings: SandboxTimings = field(default_factory=SandboxTimings)

    def can_access(self, mailbox: Mailbox) -> bool:
        if self.impersonated is not None:
            return mailbox is self.impersonated
        return mailbox.delegate

    def mailbox_named(self, address: str | None) -> Mailbox:
        if address is None:
            if self.impersonated is not None:
                return self.impersonated
            address = self.anchor
        if not address:
            raise EWSError(
                "ErrorMissingEmailAddress",
                "When making a request as an account that does not have a mailbox, you must specify "
                "the mailbox primary SMTP address for any distinguished folder Ids.",
            )
        mailbox = self.store.mailbox(address)
        if mailbox is None:
            raise EWSError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        if not self.can_access(mailbox):
            raise EWSError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return mailbox

    def folder(self, folder_elem: Element) -> Folder:
        """Resolve ``t:DistinguishedFolderId`` or ``t:FolderId``."""
        name = local(folder_elem)
        if name == "DistinguishedFolderId":
            mailbox_elem = folder_elem.find(t("Mailbox"))
            address = None if mailbox_elem is None else mailbox_elem.findtext(t("EmailAddress"))
            mailbox = self.mailbox_named(address)
            distinguished = folder_elem.get("Id") or ""
            found = mailbox.folders.get(distinguished)
            if found is None:
                raise EWSError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            return found
        if name == "FolderId":
            folder = self.store.folder_by_id(folder_elem.get("Id") or "")
            self.mailbox_named(folder.mailbox)
            return folder
        raise EWSError("ErrorInvalidOperation", f"Folder id element {name} is not supported.")

    def item(self, item_id_elem: Element) -> CalendarItem:
        """The item an id element names: ``ItemId`` (of an item, an occurrence or an exception),
        ``OccurrenceItemId`` (master and 1-based index) or ``RecurringMasterItemId`` (the master of an
        occurrence). An occurrence comes back as a transient view (``master_id`` set)."""
        kind = local(item_id_elem)
        if kind == "OccurrenceItemId":
            master = self._stored(item_id_elem.get("RecurringMasterId") or "")
            if master.recurrence is None:
                raise EWSError(
                    "ErrorCalendarCannotUseIdForOccurrenceId",
                    "The item id is not the id of a recurring master.",
                )
            try:
                index = int(item_id_elem.get("InstanceIndex") or "")
            except ValueError:
                raise EWSError("ErrorSchemaValidation", "InstanceIndex is not a number.") from None
            return series.by_index(master, index)
        if kind == "RecurringMasterItemId":
            occurrence = self._stored_or_view(item_id_elem.get("OccurrenceId") or "")
            if occurrence.master_id is None:
                raise EWSError(
                    "ErrorCalendarCannotUseIdForRecurringMasterId",
                    "The item id is not the id of an occurrence or exception.",
                )
            return self._stored(occurrence.master_id)
        return self._stored_or_view(item_id_elem.get("Id") or "")

    def _stored_or_view(self, item_id: str) -> CalendarItem:
        parsed = series.parse_occurrence_id(item_id)
        if parsed is None:
            return self._stored(item_id)
        master = self._stored(parsed[0])
        return series.by_original_start(master, parsed[1])

    def _stored(self, item_id: str) -> CalendarItem:
        item = self.store.get_item(item_id)
        self.mailbox_named(item.mailbox)
        return item

    def master_of(self, item: CalendarItem) -> CalendarItem:
        assert item.master_id is not None
        return self.store.get_item(item.master_id)


def build_context(
    store: Store, hub: SubscriptionHub, timings: SandboxTimings, header: Element | None, anchor: str | None
) -> RequestContext:
    """Read ExchangeImpersonation from the SOAP header; raise AccessFault as Exchange would."""
    impersonated: Mailbox | None = None
    if header is not None:
        imp = header.find(t("ExchangeImpersonation"))
        if imp is not None:
            sid = imp.find(t("ConnectingSID"))
            address = None
            if sid is not None:
                for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                    address = sid.findtext(t(tag))
                    if address:
                        break
            if not address:
                raise AccessFault(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "The impersonation header does not name a user.",
                )
            mailbox = store.mailbox(address.strip())
            if mailbox is None:
                raise AccessFault(
                    "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
                )
            if not mailbox.impersonation:
                raise AccessFault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            impersonated = mailbox
    return RequestContext(store=store, hub=hub, impersonated=impersonated, anchor=anchor, timings=timings)
