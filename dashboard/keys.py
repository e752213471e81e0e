"""Every key of the page's session state, widgets included, named once.

A widget's key is also its value's place in ``st.session_state``; a panel reads another
panel's widget only through these names. The values are the keys themselves (the tests
address widgets by them).
"""

from __future__ import annotations

# --- sidebar: search and filters (widgets, seeded from the address by init_widgets) ---
SEARCH = "search"  #: the search box's text
SEARCH_PICK = "search_pick"  #: which hit of the search is shown
SEARCHED = "searched"  #: the text last searched (a new text goes to its first hit)
SEARCH_WENT = "search_went"  #: (text, hit) the map last flew to
FOUND = "found"  #: (lat, lon) of the place the search went to, marked on the map
PERIOD = "period"  #: all, a preset, a year or custom
DATE_FROM = "date_from"  #: the custom period's first day
DATE_TO = "date_to"  #: the custom period's last day
DATES_SEEDED = "dates_seeded"  #: the custom period was given the data's span
TYPES = "types"
COUNTRIES = "countries"
CONFIDENCE = "confidence"
NEAR_TARGET = "near_target"  #: none, belarus or kaliningrad
NEAR_KM = "near_km"
AROUND_PLACE = "around_place"  #: a place name for the ring filter
AROUND_KM = "around_km"
AROUND_SHOWN = "around_shown"  #: the ring the map was last moved to show
CLEAR_AREA = "clear_area"  #: the button clearing the area filter
LAYERS = "layers"
BANDS = "bands"  #: distance bands, km, as typed
BASEMAP = "basemap"

# --- the view (not widgets): where the map is, what is selected, the area -------------
VIEW = "view"  #: (lat, lon, zoom) now
ORIGIN = "origin"  #: (lat, lon, zoom) the map was built at (moves go through st_folium)
SELECTED = "selected"  #: the selected incident's id
TIME_ORIGIN = "time_origin"  #: the time control's state at the session's start
BBOX = "bbox"  #: the area filter's box from the address
AREA = "area"  #: the area filter's drawn polygon
BOUNDS = "bounds"  #: the map's visible box (the Export tab's default extent)
INITIALISED = "initialised"  #: the widgets have been seeded from the address
ADDRESS_WARNINGS = "address_warnings"  #: what the address held that was not used
DISMISS_WARNINGS = "dismiss_warnings"  #: the button closing them
FIT = "fit"  #: the box the first map fits (True: to work out; False: the address gave a view)

# --- the map and the table: what the user did on them ---------------------------------
MAP = "map"  #: the map component
MAP_REPORTED = "map_reported"  #: the map's position as it last reported it
LAST_CLICK = "last_click"  #: the map's last click (a new one selects)
LAST_DRAWING = "last_drawing"  #: the last area drawn on the map
MAIN = "fw-main"  #: the container of the map and the details beside it
MAP_BOX = "fw-map"  #: the map's own box (the window's height below the header, resizable)
TAB = "tab"  #: the open tab
TABLE = "table"  #: the incident table
TABLE_PICK = "table_pick"  #: the incident of the row last picked

# --- shared views ------------------------------------------------------------------------
SHARED_PICK = "shared_pick"  #: the view picked in the list
SHARED_OPEN = "shared_open"
SHARED_NAME = "shared_name"  #: the name to save the current view under
SHARED_SAVE = "shared_save"
PENDING_SAVE = "pending_save"  #: a save asked for by a click, done in the next run
SHARED_RENAME = "shared_rename"  #: the new name
SHARED_RENAME_DO = "shared_rename_do"
SHARED_DELETE = "shared_delete"
VIEWS_FAILED = "views_failed"  #: why the last change to the views was not done

# --- history -----------------------------------------------------------------------------
REVERT_TO = "revert_to"  #: the version picked
REVERT = "revert"
HISTORY_FAILED = "history_failed"  #: why the last revert was not done

# --- export and import -------------------------------------------------------------------
EXPORT_FORMAT = "export_format"
EXPORT_SIZE = "export_size"
EXPORT_TITLE = "export_title"
EXPORT_MARKING = "export_marking"
EXPORT_DPI = "export_dpi"
EXPORT_EXTENT = "export_extent"
EXPORT_DOWNLOAD = "export_download"
EXPORT_DOCUMENT = "export_document"
EXPORT_PACK = "export_pack"
EXPORT_CONFIRM = "export_confirm"  #: "make it anyway" for a document of many pages
EXPORT_MAKE = "export_make"  #: the button that draws a pack's or an atlas's pages
EXPORT_MADE = "export_made"  #: (what was asked for, the PDF's bytes) of the last one made
CLIP_FORMAT = "clip_format"
CLIP_STEP = "clip_step"
CLIP_WINDOW = "clip_window"
CLIP_FPS = "clip_fps"
CLIP_MAKE = "clip_make"  #: the button that starts a clip in the background
CLIP_JOB = "clip_job"  #: the clip being made or made last (``panels.clip.ClipJob``)
CLIP_DOWNLOAD = "clip_download"
UPLOAD = "upload"  #: the file uploader
UPLOAD_CHECKED = "upload_checked"  #: (upload's file id, its check): checked once
REJECTS_DOWNLOAD = "rejects_download"  #: the rejected rows of the file checked
DO_IMPORT = "do_import"  #: the button importing the checked upload
IMPORTED = "imported"  #: (upload's file id, summary) of the import just done

# --- sign-in ------------------------------------------------------------------------------
SIGN_IN = "sign_in"
SIGN_OUT = "sign_out"
DRAWN_FOR = "drawn_for"  #: the Access the page was last drawn for (whole-page run)
WHOLE_PAGE = "whole_page"  #: a click in a panel asked for a run of the whole page

#: What a click asked for that a failed or stopped run has not done (dropped then).
ASKED = (PENDING_SAVE, VIEWS_FAILED, HISTORY_FAILED)

# --- the Alerts tab -----------------------------------------------------------------------
ALERT_OPEN = "alert_open"  #: (prefix) an alert's button opening its record on the map
ALERT_ACK = "alert_ack"  #: (prefix) an alert's button marking it seen
ALERT_NAME = "alert_name"
ALERT_WEBHOOK = "alert_webhook"
ALERT_SECRET = "alert_secret"
ALERT_EMAIL = "alert_email"
ALERT_COOLDOWN = "alert_cooldown"
ALERT_SAVE = "alert_save"
ALERT_SAVED = "alert_saved"  #: what the last save did
ALERTS_FAILED = "alerts_failed"  #: why the last change of the alerts was not done
