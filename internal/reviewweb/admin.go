package reviewweb

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scimgate/scimgate/internal/review"
	"github.com/scimgate/scimgate/internal/store"
)

// adminInstance is an instance on a review's admin page.
type adminInstance struct {
	review.Instance
	Items []review.Item
}

// adminReview is a review's admin page: its instances, newest first,
// with their progress (in all and per reviewer) and decisions.
func (h *Handler) adminReview(w http.ResponseWriter, r *http.Request, s session) {
	h.adminPage(w, r, s, r.PathValue("name"), http.StatusOK, "", r.URL.Query().Get("done"))
}

func (h *Handler) adminPage(w http.ResponseWriter, r *http.Request, s session, name string, status int, errMsg, notice string) {
	ctx := r.Context()
	d, err := h.opts.Reviews.Definition(name)
	if err != nil {
		h.render(w, http.StatusNotFound, "admin.html", page{Title: "Access reviews", CSRF: s.CSRF, Who: s.Admin, Admin: true,
			Error: "No such review.", Content: h.opts.Reviews.Definitions()})
		return
	}
	ins, err := h.opts.Reviews.Instances(ctx, d.Name)
	var out []adminInstance
	for _, in := range ins {
		if err != nil {
			break
		}
		var items []review.Item
		items, err = h.opts.Reviews.Items(ctx, in.ID)
		out = append(out, adminInstance{Instance: in, Items: items})
	}
	if err != nil {
		h.opts.Logger.Error("reviews page: reading instances", "review", d.Name, "err", err)
		http.Error(w, "the review cannot be read now", http.StatusInternalServerError)
		return
	}
	switch notice {
	case "stop":
		notice = "The instance was stopped."
	case "apply":
		notice = "The results were applied."
	case "remind":
		notice = "Reminders were sent to the reviewers with pending items."
	default:
		notice = ""
	}
	names := map[string]string{}
	for _, in := range out {
		for _, rp := range in.Reviewers {
			if _, ok := names[rp.Reviewer]; !ok {
				names[rp.Reviewer] = h.name(ctx, rp.Reviewer)
			}
		}
		for _, it := range in.Items {
			if _, ok := names[it.Stage1ReviewedBy]; !ok && it.Stage1ReviewedBy != "" {
				names[it.Stage1ReviewedBy] = h.name(ctx, it.Stage1ReviewedBy)
			}
		}
	}
	h.render(w, status, "review.html", page{Names: names, Title: d.Name, CSRF: s.CSRF, Who: s.Admin, Admin: true, Error: errMsg, Notice: notice,
		Content: struct {
			Definition review.Definition
			Instances  []adminInstance
		}{d, out}})
}

// adminAction stops an instance, sends its reminders now or applies its
// results.
func (h *Handler) adminAction(w http.ResponseWriter, r *http.Request, s session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	in, err := h.opts.Reviews.Instance(r.Context(), id)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctx := store.WithActor(r.Context(), "admin: "+s.Admin)
	action := r.PathValue("action")
	switch action {
	case "stop":
		err = h.opts.Reviews.Stop(ctx, id)
	case "apply":
		_, err = h.opts.Reviews.Apply(ctx, id)
	case "remind":
		var n int
		if n, err = h.opts.Reviews.Remind(ctx, id); n > 0 && err != nil { // some went out: said in the log
			h.opts.Logger.Warn("reviews page: some reminders were not sent", "instance", id, "err", err)
			err = nil
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		msg := "The action failed; see the gateway's log."
		switch {
		case errors.Is(err, review.ErrNotInProgress):
			msg = "The instance is not in progress."
		case errors.Is(err, review.ErrNotEnded):
			msg = "The instance has not ended: stop it first."
		default:
			h.opts.Logger.Error("reviews page: admin action", "action", action, "instance", id, "err", err)
		}
		text := fmt.Sprintf("Instance %d: %s Nothing was changed.", id, msg)
		if action == "remind" && !errors.Is(err, review.ErrNotInProgress) {
			text = fmt.Sprintf("Instance %d: no reminder could be sent (%v).", id, err)
		}
		h.adminPage(w, r, s, in.Definition, http.StatusConflict, text, "")
		return
	}
	http.Redirect(w, r, Path+"admin/review/"+url.PathEscape(in.Definition)+"?done="+action, http.StatusSeeOther)
}

// export downloads an instance's results as CSV or JSON.
func (h *Handler) export(w http.ResponseWriter, r *http.Request, _ session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	format := r.PathValue("format")
	if err != nil || (format != review.FormatCSV && format != review.FormatJSON) {
		http.NotFound(w, r)
		return
	}
	if _, err := h.opts.Reviews.Instance(r.Context(), id); err != nil {
		http.NotFound(w, r)
		return
	}
	ct := "text/csv; charset=utf-8"
	if format == review.FormatJSON {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="review-instance-%d.%s"`, id, format))
	if err := h.opts.Reviews.Export(r.Context(), id, format, w); err != nil {
		h.opts.Logger.Error("reviews page: export", "instance", id, "err", err)
	}
}
