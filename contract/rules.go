package contract

import (
	"regexp"
	"strings"
	"unicode"
)

// sentenceRule extracts at most one fact of its type per clause. match
// gets one quotable unit (see units), its lower-case form and its
// durations; it answers only when that unit states the fact by itself.
type sentenceRule struct {
	typ      string
	preamble bool     // may answer from the preamble
	needs    []string // the rule runs only on units holding one of these (lower case)
	match    func(s, ls string, durs []Duration) (value, statement string, ok bool)
}

// extractive answers with the unit itself when cond holds.
func extractive(cond func(s, ls string) bool) func(s, ls string, durs []Duration) (string, string, bool) {
	return func(s, ls string, _ []Duration) (string, string, bool) {
		if !cond(s, ls) {
			return "", "", false
		}
		return "", quote(s), true
	}
}

// re compiles a case-insensitive pattern.
func re(p string) *regexp.Regexp { return regexp.MustCompile(`(?i)` + p) }

var (
	reThisAgreement = re(`\b(?:this|the)\s+(?:[a-z\-]+\s+){0,4}(?:agreement|contract|letter|lease|deed|memorandum|amendment)\b|\bhereunder\b|\bherein\b|\bhereof\b`)
	// Governing law: "governed by ... the laws of the State of New York".
	reGovLaw = regexp.MustCompile(`(?i:govern(?:ed|s|ing)?|constru(?:ed|ction)|interpret(?:ed|ation))[^.;]{0,200}?\b(?i:laws?)\b,?\s+(?:(?i:of|in)\s+)?(?i:the\s+)?(?:(State|state|Commonwealth|Province|province|Republic|Kingdom|Federal Republic|People's Republic|People’s Republic|Grand Duchy|Canton)\s+of\s+)?((?:the\s+)?\p{Lu}[\p{L}'’\-]*(?:\s+(?:(?:of|and|the)\s+)?\p{Lu}[\p{L}'’\-]*){0,4})`)
	// reAlsoLaw is a second body of law that governs with the first, with
	// its qualification: "... and the federal laws of Canada applicable
	// therein".
	reAlsoLaw = regexp.MustCompile(`^\s*,?\s+(?i:and)\s+((?i:the\s+)?(?i:federal\s+)?(?i:laws?)\s+(?i:of)\s+(?:(?i:the)\s+)?\p{Lu}[\p{L}'’\-]*(?:\s+(?:(?i:of)\s+)?\p{Lu}[\p{L}'’\-]*){0,3}(?:\s+(?i:applicable)\s+[^,;.]{1,100})?)`)
	reVenue   = regexp.MustCompile(`(?i:courts?|arbitration|tribunal|venue|forum)[^.]{0,120}?\b(?:in|of|at)\s+(?:the\s+)?(?:(?:State|City|County|Commonwealth|Borough|Province)\s+of\s+)?([A-Z][A-Za-z]+(?:,?\s+[A-Z][A-Za-z]+){0,3})`)
	reForum   = re(`exclusive jurisdiction|non-exclusive jurisdiction|submits? (?:itself |themselves )?to the (?:exclusive |non-exclusive )?jurisdiction|irrevocably submit|(?:shall|will|must) be (?:brought|filed|commenced|heard|resolved|settled|litigated|determined)[^.]{0,80}\b(?:courts?|arbitration)|venue|(?:arbitration|proceedings?) (?:shall|will) (?:be held|take place|be conducted|be seated)|seat of (?:the )?arbitration|place of arbitration`)
	// Effective date.
	reEffectiveBlank   = re(`effective\s+(?:as\s+of|on|from)\s+(?:the\s+)?(?:_{3,}|\[\s*\]|…{2,}|\.{5,})|(?:as\s+of|dated|on)\s+(?:_{3,}|…+|\.{4,})[^()]{0,20}\(\s*(?:the\s+)?["“']?effective date`)
	reEffectiveDefined = re(`(?:^|,\s*|\bthat\s+)(?:this|the)\s+(?:[a-z\-]+\s+){0,4}(?:agreement|contract)\b[^;]{0,80}?\b(?:shall|will)\s+(?:be(?:come)?|take)\s+effect|\(\s*(?:the\s+|this\s+)?["“]effective date["”]\s*\)|["“]effective date["”]\s+(?:means|shall mean|shall be|is)|the effective date of (?:this|the) (?:agreement|contract) (?:shall be|is|will be|means)|is (?:made )?effective (?:as of|on|from)|(?:made|entered into|dated)(?: and entered into)?,?\s+(?:to be\s+)?effective`)
	reEffectiveAfter   = re(`^\W{0,3}\(?\s*(?:the\s+)?["“]effective date`)
	reEffectiveNear    = re(`effective(?:\s+as\s+of|\s+on|\s+from)?\s*(?:the\s+)?$|["“]?effective date["”]?\s*\)?\s*$`)
	// Term.
	reTermTrigger = re(`\b(?:initial\s+)?term\s+of\s+(?:this|the)\s+(?:[a-z\-]+\s+){0,3}(?:agreement|contract)\b|\binitial term\b|\bthe term (?:shall|will) (?:be|commence|continue)|(?:this|the)\s+(?:agreement|contract)\s+(?:shall|will)\s+(?:commence|continue|remain|be in (?:full )?(?:force|effect)|expire|terminate automatically|terminate on|terminate at the end|be effective|run|last|be for)`)
	// reTermConditional: the term ends on whichever of several events comes
	// first or last.
	reTermConditional = re(`earlier of|later of|earlier to occur|later to occur|whichever (?:is|occurs|comes)`)
	// reTermFromStart: what follows a duration that runs from the start of
	// the agreement ("from the Effective Date", "from the date hereof", or
	// nothing at all); a duration counted from another event ("after
	// disclosure") does not.
	reTermFromStart = re(`^(?:\s*\([^)]*\))?\s*(?:$|[,.;)]|(?:commencing|beginning|starting|from|after|following|as of)\s+(?:on\s+)?(?:the\s+)?(?:effective date|date (?:hereof|of this|first|of execution|of signature|of the last signature|this agreement)|execution|signing|commencement|date on which this agreement)|(?:unless|subject|thereafter|with|and|or|but|provided|except)\b)`)
	reTermEnd       = re(`(?:until|through|expires? on|expire at|ending on|end on|terminates? on|and end(?:ing)? on|up to and including)\s+(?:the\s+)?$`)
	// Renewal.
	reRenew       = re(`\brenew(?:s|ed|al|able)?\b|\bextended\b|\bextension\b`)
	reRenewTarget = re(`\b(?:this|the)\s+(?:agreement|contract)\b|\bterm\b|\bhereof\b`)
	// reRenewLead is what may stand between a renewal's length and the
	// renewal word after it ("one-year renewal terms", "one (1) year
	// extension"): no verb, no parenthesis, no conjunction, so that an
	// initial term stated before "and will renew" is not taken for it.
	reRenewLead = re(`^[\s\-]*(?:(?:automatic|additional|successive|further|consecutive|periods?|terms?)\s+){0,2}$`)
	// reAnnual is a renewal for periods of a year written without a number.
	reAnnual      = re(`\b(?:annual|yearly)\s+(?:renewal\s+)?(?:periods?|terms?|basis|increments?)\b|\byear[- ]to[- ]year\b|\bfrom year to year\b`)
	reUnless      = re(`\bunless\b`)
	reRenewNotice = re(`^[^.]{0,40}?\b(?:prior to|before|in advance of|preceding)\b[^.]{0,120}?\b(?:expiration|expiry|end|anniversary|renewal|then[- ]current|current term|initial term|term)\b`)
	// Termination.
	reMayTerminate = re(`\b(?:may|can|shall (?:have|be entitled to) the right to|has the right to|have the right to|is entitled to|are entitled to|reserves? the right to|may elect to|may at any time|may, at any time,|may, at its option,|may, in its sole discretion,|may in its sole discretion)\s+(?:(?:[a-z]+,?\s+){0,6})?terminate\b|\bmay be terminated\b|\bcan be terminated\b`)
	reConvenience  = re(`without cause|for convenience|for any reason|for no reason|with or without cause|at will|without (?:any )?(?:reason|justification)`)
	reConditional  = re(`\bif\b|\bin the event\b|\bupon the occurrence\b|\bbreach|\bdefault|\bfails?\b|\bfailure\b|insolven|bankrupt|change of control|force majeure|\bunless\b|\b(?:for|with) cause\b|as follows`)
	// reObjectEnd ends the object of "terminate": what follows it says
	// when, how or why ("terminate this Agreement at any time upon ...").
	reObjectEnd = re(`[,(;:]|\b(?:at|for|upon|on|by|without|effective|immediately|if|prior|before|after|as|subject|during|within|in whole|in the event|pursuant|except|unless|provided)\b`)
	// reKeepsAgreement: a right to end something while the agreement
	// stays ("terminate any Scope of Work ... (without terminating this
	// Agreement)").
	reKeepsAgreement = re(`without (?:terminating|affecting) (?:this|the)\s+(?:[a-z\-]+\s+){0,2}(?:agreement|contract)`)
	reOnNotice       = re(`(?:upon|on|by giving|with|after|by providing|by)\s+(?:at least\s+|not less than\s+|no less than\s+)?[^.]{0,40}?\bnotice`)
	// Caps, damages, fees.
	reCap          = re(`(?:shall|will|does|do)\s+not\s+exceed|not to exceed|in no event shall[^.]{0,120}\bliabilit[^.]{0,80}\bexceed|liabilit[^.]{0,80}\b(?:shall|will) be limited to|(?:^|[^t] )limited to (?:the |an |a )?(?:amounts?|fees|sums?|total|aggregate|price|lesser|greater|\$|us\$|usd|\d)|maximum (?:aggregate |total |cumulative )?liability|(?:total|aggregate|cumulative) (?:aggregate )?liability|sole (?:and exclusive )?(?:liability|remedy)|exclusive remedy`)
	reCapOther     = re(`(?:reimbursements?|damages|claims|recovery|compensation)\b[^.]{0,80}\b(?:shall|will) not exceed`)
	reDamagesKinds = re(`damages other than direct damages|(?:consequential|incidental|indirect|special|punitive|exemplary)(?:,?\s+(?:or\s+|and\s+)?(?:consequential|incidental|indirect|special|punitive|exemplary|cover))*\s+(?:loss(?:es)?\s+or\s+)?damages|lost profits|loss of profits`)
	// reConsequentialKind: the kinds of loss that "consequential or
	// indirect damages" covers (special damages and lost profits are the
	// usual names for them); incidental, punitive and exemplary damages are
	// other kinds.
	reConsequentialKind = re(`consequential|indirect|special|profits|other than direct`)
	reNoLiability       = re(`in no event|not be liable|no liability|not have (?:any )?liability|not be responsible|waives?\b|not (?:seek|recover|claim)|disclaim|excluded|under no circumstances?`)
	reNeitherLiable     = re(`neither[^.]{0,80}\bliabilit`)
	reLiquidated        = re(`liquidated damages|(?:\bpay\b|\bpays\b|\bpaid\b)[^.]{0,120}\b(?:termination|cancellation|break-up|early termination) (?:fee|payment|charge)`)
	reForceMajeure      = re(`force majeure|acts? of god`)
	reFMEffect          = re(`not be (?:liable|responsible|deemed|considered)|excused|suspend|delay|prevent|beyond (?:the |its |their )?(?:reasonable )?control|means|shall mean|include`)
	// Obligations.
	reInsurance = re(`\b(?:shall|will|must|agrees? to|undertakes? to),?\s+(?:[\w,]+\s+){0,6}?(?:maintain|carry|procure|obtain|purchase|keep in (?:full )?force|secure)\b[^.]{0,150}\b(?:insurance|liability coverage)\b|\binsurance\b[^.]{0,80}\b(?:shall|must|will) be (?:maintained|carried|obtained|procured)`)
	// reAdditionalInsured names a party as insured under a policy, which
	// says what insurance must be kept only when it names the coverage or
	// its amount rather than pointing back ("the foregoing policies").
	reAdditionalInsured = re(`additional(?:ly)? (?:named )?insured`)
	reCoverage          = re(`\b(?:general|products?|professional|property|liability|workers|automobile|umbrella|excess|errors and omissions|casualty|cyber|clinical trials?)\b[^.]{0,40}\b(?:insurance|polic(?:y|ies)|coverage)\b`)
	reCurrency          = re(`[$€£]|\bdollars\b|\b(?:usd|eur|euros?|gbp)\b`)
	rePointsBack        = re(`\b(?:foregoing|such|above|said|these|those|aforementioned|aforesaid)\s+(?:insurance\s+)?(?:polic(?:y|ies)|insurance|coverage)`)
	reConfidential      = re(`(?:shall|will|agrees? to|undertakes? to|must|hereby agrees? to)\s+(?:[a-z,]+\s+){0,6}(?:not\s+(?:disclose|divulge|reveal|use|make)|(?:maintain|protect|preserve)\b[^.]{0,40}\bconfidential(?:ity\b|\s+(?:nature|character|status))|(?:keep|hold|maintain|treat|protect|retain)\b[^.]{0,100}\b(?:(?:strictly |completely |permanently )?confidential|secret|in (?:strict |strictest )?confidence|in trust|secrecy)(?:$|[,.;:)]|\s+(?:and|or|by|from|at|until|for|in|to|except|unless|as|with|using|during|so|pursuant|under|on|but|nor|whether|but|if)\b))`)
	// reNotObliged marks an exception to an obligation.
	reNotObliged = re(`neither[^.]{0,60}\b(?:obligated|required)\b|not be (?:obligated|required)|no obligation|(?:shall|does|will) not apply`)
	// reCareStandard: the care owed to confidential information ("the same
	// degree of care as it uses for its own").
	reCareStandard = re(`(?:same|reasonable|no less than)[^.]{0,30}\b(?:degree|level|standard) of care`)
	// reProtectSecret: protecting the information itself ("protect the
	// Confidential Information", "protect the secrecy of").
	reProtectSecret = re(`\b(?:protect|safeguard|secure)\s+(?:the\s+|all\s+|such\s+|any\s+)?(?:[\w’'-]+\s+){0,3}(?:confidential information|proprietary information|secrecy|confidentiality)`)
	// Assignment: the agreement, or rights or obligations under it, as the
	// object of "assign" ("may not assign this Agreement", "this Agreement
	// ... shall not be assigned", "any assignment of the rights"); the
	// licence the agreement grants is the agreement's, while "the licenses
	// for the ... Trademarks" are other assets.
	reAssignActive     = re(`\b(?:assign|assignment of|assignment or transfer of|(?:attempted|purported) assignment of)\b(?:\s+or\s+\w+)?\s+(?:\w+\s+){0,6}?(?:this|the)\s+(?:[a-z\-]+\s+){0,2}(?:agreement|contract|licen[cs]e)\b|\b(?:assign|assignment of)\b[^.;]{0,40}\b(?:its|any of its|any|all|such|the) (?:of its )?(?:rights|obligations|interests?)\b`)
	reAssignPassive    = re(`\b(?:agreement|contract|rights|obligations|licen[cs]e)\b[^.;]{0,80}\b(?:be|is|are)\s+(?:\w+\s+){0,3}(?:assigned|assignable)|(?:attempted|purported) assignment`)
	reAssignLimit      = re(`consent|may not|shall not|will not|cannot|can not|neither party|no party|null and void|\bvoid\b|voidable|not be assigned|without (?:the )?(?:prior )?(?:written )?(?:approval|consent)|prohibited|not (?:be )?(?:permitted|entitled)`)
	reAssignNot        = re(`benefit of (?:its )?creditors|hereby (?:irrevocably )?assigns?\b|assigns? to [^.]{0,60}(?:all )?right, title|right, title and interest|successors and (?:permitted )?assigns`)
	reAudit            = re(`\b(?:audit|inspect|inspection|examine|examination)\b|\b(?:give|provide|grant|permit|allow|afford)s?\b[^.]{0,120}\baccess to\b[^.]{0,80}\b(?:books|records|facilities|premises)\b`)
	reAuditObject      = re(`records|books|accounts|facilities|premises|procedures|systems|documents`)
	reAuditRight       = re(`right|\bmay\b|permit|allow|access|available|shall provide|shall make|will make|cooperate`)
	reIndemnify        = re(`\b(?:shall|will|agrees? to|hereby agrees? to|undertakes? to|must)\s+(?:(?:[a-z]+,?\s+){0,4})?(?:indemnify|defend,? indemnify|hold harmless)`)
	reProhibit         = re(`shall not|will not|agrees? not to|undertakes? not to|covenants? not to|may not|must not|neither\b[^.]{0,60}\b(?:shall|will|may)|prohibited from|refrain from|not be allowed to`)
	reCompete          = re(`compet(?:e|es|ing|itive|itor)|non-compet|noncompet`)
	reCompeteActivity  = re(`\b(?:sell|market|develop|manufactur\w*|commerciali[sz]e|promot\w*|distribut\w*|participate|engage|offer|procure|produce)\b[^.]{0,150}(?:\b(?:similar|substantially similar|identical|same|compet\w*)|\(?other than (?:the )?(?:Products|Services)\b)`)
	rePeriod           = re(`during the term|throughout the term|during the period|for a period of|thereafter|after (?:the )?(?:expiration|termination|expiry)|following (?:the )?(?:expiration|termination|expiry)|from the date of (?:termination|expiration)|while this agreement`)
	reNotCovenant      = re(`not (?:preclude|prevent|prohibit|restrict|apply to|limit)|suit|action or proceeding|interfere|severab|invalid|unenforceable|free (?:and without restriction )?to|nothing (?:in this agreement|herein)|confidential`)
	reSolicit          = re(`\b(?:solicit(?:s|ing)?|hire|hiring|employ|employing|engage|recruit(?:ing)?|induce|entice)\b[^.]{0,200}\b(?:employees?|personnel|staff|officers?|consultants?|workers?)\b|\b(?:employees?|personnel|staff)\b[^.]{0,120}\b(?:solicit(?:ed|ing)?|hired?|employed|recruited)\b`)
	reExclusiveGrant   = re(`(?:appoints?|appointed|grants?|granted|hereby (?:grants?|appoints?)|shall be|is)\s+(?:[\w\-,"“”()]+\s+){0,12}?exclusive\s+(?:right|distributor|reseller|licen[cs]e|agent|representative|supplier|provider|partner|manufacturer|rights)|(?:right|rights)[^.]{0,120}\bshall be exclusive|(?:solely|exclusively) from|from any (?:source|person|supplier|third party|one) other than|exclusive right to (?:use|sell|distribute|market)`)
	reExclusiveDealing = re(`\b(?:sell|offer for sale|market|promote|distribute|purchase|procure)\b[^.]{0,120}\((?:other than|except) (?:the )?(?:Products|Services)\)|from granting any rights?[^.]{0,200}\bother than\b`)
	reExclusiveNot     = re(`non-exclusive|nonexclusive|option|maintain|subject to[^.]{0,60}milestone|cancel|notwithstanding|terminat|lose|losing|remed|jurisdiction|dispute|indemnif|exclusive of\b`)
	reNotices          = re(`^[^.]{0,60}?\b(?:all|any|each)\s+(?:such\s+)?(?:notices?|communications?)\b[^.]{0,250}\b(?:shall|must|will)\s+be\s+(?:in writing|given|sent|delivered|deemed|made|addressed|effective|served)|^[^.]{0,30}?\bnotices?\b[^.]{0,40}\b(?:shall|must) be (?:in writing|given|sent|delivered|addressed)`)
	reCure             = re(`\b(?:to cure|cure (?:such|the|any|its|said)|cured|remedied|unremedied|uncured|remedy (?:such|the|any|its|said))\b`)
	reWarrantyStart    = re(`(?:from|after|following|of)\s+(?:the\s+)?(?:date\s+of\s+)?(?:the\s+)?(?:delivery|shipment|installation|acceptance|purchase|sale|completion|date)|warranty period`)
	// reDefinition opens a definition or an exclusion from one: "\"Term\"
	// means", "The term Confidential Information shall not include",
	// "Confidential Information does not include".
	// A quoted term may be defined by "includes" or "excludes"; an
	// unquoted one only by verbs that no duty uses ("Supplier excludes
	// liability for ..." is no definition).
	reDefinition = re(`^["“][^"”]{1,80}["”](?:\s+(?:or|and)\s+["“][^"”]{1,80}["”])?\s*(?:,\s*)?(?:means|shall mean|has the meaning|shall have the meaning|includes|shall include|refers to|is defined|excludes|shall exclude|` + notInclude + `)|` +
		`^(?:the\s+)?(?:(?:terms?|words?|phrases?|expressions?)\s+)?["“]?(?-i:(?:[A-Z][\w\-]*\s+){0,4}[A-Z][\w\-]*)["”]?\s*,?\s+(?:as used (?:herein|in this agreement),?\s+)?(?:means|shall mean|is defined|refers to|` + notInclude + `)\b`)
)

// notInclude takes something out of a defined term.
const notInclude = `does not include|shall not include|will not include|shall not be deemed to include`

// titleCaseCaps writes a sentence set in capitals in title case ("THE LAWS
// OF THE STATE OF DELAWARE" reads "The Laws of the State of Delaware"),
// keeping its length, so that place names can be told from the words
// around them; other sentences are returned as they are.
func titleCaseCaps(s string) string {
	upper, letters := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters == 0 || float64(upper) < 0.8*float64(letters) {
		return s
	}
	words := strings.Split(s, " ")
	for i, w := range words {
		lw := strings.ToLower(w)
		if minorWords[strings.Trim(lw, ",.;:()")] || i == 0 {
			if i > 0 {
				words[i] = lw
			}
			continue
		}
		if len(w) > 0 {
			words[i] = w[:1] + lw[1:]
		}
	}
	return strings.Join(words, " ")
}

// placeStop words end a place name ("Delaware Applicable To Agreements").
var placeStop = map[string]bool{"Applicable": true, "Without": true, "Excluding": true, "Including": true, "As": true, "Which": true, "That": true, "Except": true, "Regardless": true, "Notwithstanding": true, "Governing": true, "In": true, "For": true, "With": true, "Other": true, "Its": true}

// cutPlace ends a captured place name at the first word that is no part of
// one.
func cutPlace(p string) string {
	words := strings.Fields(p)
	for i, w := range words {
		if placeStop[w] {
			return strings.Join(words[:i], " ")
		}
	}
	return p
}

// placeholderPlace are words a template leaves where a place belongs.
var placeholderPlace = map[string]bool{"State": true, "Country": true, "Province": true, "Jurisdiction": true, "Commonwealth": true, "The": true}

var sentenceRules = []sentenceRule{
	{FactGoverningLaw, false, []string{"govern", "constru"}, func(s, ls string, _ []Duration) (string, string, bool) {
		if !strings.Contains(ls, "govern") && !strings.Contains(ls, "constru") {
			return "", "", false
		}
		t := titleCaseCaps(s)
		var kind, name, also string // "State", "the Province of X" or "the Netherlands", "the federal laws of ..."
		for _, c := range reGovLaw.FindAllStringSubmatchIndex(t, -1) {
			name = cutPlace(t[c[4]:c[5]])
			if name != "" && !hasAny(strings.ToLower(name), "agreement", "section", "article", "this", "such", "any", "party", "parties") {
				if c[2] >= 0 {
					kind = t[c[2]:c[3]]
				}
				if a := reAlsoLaw.FindStringSubmatch(t[c[4]+len(name):]); a != nil {
					also = " and " + strings.TrimRight(a[1], ".") // "... of British Columbia and the federal laws of Canada applicable therein"
				}
				break
			}
			name = ""
		}
		if name == "" || !reThisAgreement.MatchString(s) {
			return "", "", false
		}
		place := strings.TrimRight(strings.TrimPrefix(name, "the "), ".")
		if placeholderPlace[place] {
			return "", "", false // "the laws of the State of ____"
		}
		if kind != "" {
			place = "the " + kind + " of " + place
		} else if strings.HasPrefix(name, "the ") {
			place = name
		}
		return strings.TrimRight(name, "."), "this Agreement is governed by the laws of " + place + also + ".", true
	}},
	{FactJurisdiction, false, []string{"court", "arbitrat", "venue", "jurisdiction", "tribunal", "forum"}, func(s, ls string, _ []Duration) (string, string, bool) {
		if !reForum.MatchString(s) || reDefinition.MatchString(s) {
			return "", "", false
		}
		m := reVenue.FindStringSubmatch(s)
		if m == nil {
			return "", "", false
		}
		return m[1], quote(s), true
	}},
	{FactEffectiveDate, true, []string{"effective"}, func(s, ls string, _ []Duration) (string, string, bool) {
		if !strings.Contains(ls, "effective") || hasAny(ls, "amend", "in witness") {
			return "", "", false
		}
		if reEffectiveBlank.MatchString(s) {
			return "left blank", "the effective date of this Agreement is left blank.", true
		}
		for _, d := range FindDates(s) {
			if hasAny(ls, "terminat", "expir") {
				break // "terminates effective December 31": not when it starts
			}
			before := s[max(0, d.Pos-40):d.Pos]
			after := s[d.Pos+len(d.Text) : min(len(s), d.Pos+len(d.Text)+40)]
			if reEffectiveNear.MatchString(before) || reEffectiveAfter.MatchString(after) {
				return d.String(), "this Agreement is effective as of " + d.String() + ".", true
			}
		}
		if reEffectiveDefined.MatchString(s) && len(s) <= 400 && !reListOpen.MatchString(s) {
			return "", quote(s), true
		}
		return "", "", false
	}},
	{FactRenewalTerm, false, []string{"renew", "extend", "extension"}, func(s, ls string, durs []Duration) (string, string, bool) {
		loc := reRenew.FindStringIndex(s)
		if loc == nil || !reRenewTarget.MatchString(s) {
			return "", "", false
		}
		verb := "may be renewed for "
		switch {
		case strings.Contains(ls, "automatic"):
			verb = "renews automatically for "
		case strings.Contains(ls, "extended") || strings.Contains(ls, "extension"):
			verb = "may be extended for "
		}
		for _, d := range durs {
			if (d.Unit != "year" && d.Unit != "month") || d.Pos < loc[0]-60 || d.Pos > loc[1]+150 {
				continue
			}
			if d.Pos < loc[0] && !reRenewLead.MatchString(s[d.Pos+len(d.Text):loc[0]]) {
				continue // "an initial term of seven (7) years ... and will renew": not the renewal's length
			}
			if strings.Contains(strings.ToLower(s[max(0, d.Pos-20):d.Pos]), "initial") {
				continue // "after an initial five (5) year term"
			}
			if reRenewNotice.MatchString(s[d.Pos+len(d.Text):]) || hasAny(strings.ToLower(s[d.Pos+len(d.Text):min(len(s), d.Pos+len(d.Text)+20)]), "notice", "prior", "before") {
				continue
			}
			how := "an additional term of "
			if strings.Contains(ls, "successive") || strings.Contains(ls, "each renewal") || strings.Contains(ls, "basis") {
				how = "successive terms of "
			}
			return d.Normal(), withQuote("the Agreement "+verb+how+durationText(d)+".", s), true
		}
		if reAnnual.MatchString(s[loc[0]:min(len(s), loc[1]+150)]) {
			return "1 year", withQuote("the Agreement "+verb+"annual (one-year) periods.", s), true
		}
		return "", "", false
	}},
	{FactRenewalNotice, false, []string{"renew", "extend", "extension"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !reRenew.MatchString(s) || !hasAny(ls, "notice", "notif", "request") {
			return "", "", false
		}
		for _, d := range durs {
			if d.Unit != "day" && d.Unit != "month" {
				continue
			}
			after := strings.ToLower(s[d.Pos+len(d.Text) : min(len(s), d.Pos+len(d.Text)+30)])
			prevent := (hasAny(ls, "prevent renewal", "non-renewal", "nonrenewal", "not to renew", "not be renewed", "elect not to renew") ||
				reUnless.MatchString(s[max(0, d.Pos-150):d.Pos])) && strings.Contains(after, "notice")
			if !prevent && !reRenewNotice.MatchString(s[d.Pos+len(d.Text):]) {
				continue
			}
			statement := "at least " + durationText(d) + " notice must be given before the end of the current term to prevent renewal."
			if who := renewalNoticeGiver(s); who != "" {
				statement = who + " must give at least " + durationText(d) + " notice before the end of the current term to prevent renewal."
			}
			return d.Normal(), withQuote(statement, s), true
		}
		return "", "", false
	}},
	{FactTerm, false, []string{"term", "continue", "remain", "expire", "commence", "effect"}, func(s, ls string, durs []Duration) (string, string, bool) {
		loc := reTermTrigger.FindStringIndex(s)
		if loc == nil || strings.Contains(ls, "surviv") || hasAny(strings.ToLower(s[max(0, loc[0]-20):loc[0]]), "during", "throughout", "within", "after", "expiration of", "termination of", "end of", "beyond") {
			return "", "", false
		}
		limit := len(s)
		if r := reRenew.FindStringIndex(s); r != nil && r[0] > loc[1] {
			limit = r[0] // a renewal term is not the initial term
		}
		for _, d := range FindDates(s) {
			if d.Pos > loc[0] && d.Pos < limit && reTermEnd.MatchString(s[max(0, d.Pos-30):d.Pos]) {
				return d.String(), withQuote("the initial term of this Agreement ends on "+d.String()+".", s), true
			}
		}
		for _, d := range durs {
			if (d.Unit != "year" && d.Unit != "month") || d.Pos < loc[0] || d.Pos >= limit || d.Pos > loc[1]+150 {
				continue
			}
			before := strings.ToLower(s[max(0, d.Pos-40):d.Pos])
			after := strings.ToLower(s[d.Pos+len(d.Text) : min(len(s), d.Pos+len(d.Text)+40)])
			if hasAny(before, "notice", "within", "prior", "after the", "following the", "up to") || hasAny(after, "notice", "prior to", "before", "after the expiration", "after the termination", "following the", "thereafter") {
				continue
			}
			if reTermConditional.MatchString(s) || !reTermFromStart.MatchString(after) {
				// "until the earlier of (i) ... (ii) three (3) years after
				// disclosure": no single initial term to state
				return d.Normal(), quote(s), true
			}
			return d.Normal(), withQuote("the initial term of this Agreement is "+durationText(d)+".", s), true
		}
		return "", "", false
	}},
	{FactWarrantyPeriod, false, []string{"warrant"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "warrants that", "warranty period", "warranted", "warranty shall", "warranty will", "limited warranty", "warranty of", "warrant that") ||
			hasAny(ls, "notice", "unremedied", "fails to", "stock", "warrants to purchase") {
			return "", "", false
		}
		for _, d := range durs {
			near := strings.ToLower(s[max(0, d.Pos-60):min(len(s), d.Pos+len(d.Text)+60)])
			if reWarrantyStart.MatchString(near) {
				return d.Normal(), withQuote("the warranty period is "+durationText(d)+".", s), true
			}
		}
		return "", "", false
	}},
	{FactDefectLiability, false, []string{"defect"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "defect liability period", "defects liability period") || len(durs) == 0 {
			return "", "", false
		}
		return durs[0].Normal(), withQuote("the defect liability period is "+durationText(durs[0])+".", s), true
	}},
	{FactTerminationConvenience, false, []string{"terminat"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !terminatesAgreement(s) || hasAny(ls, "renew", "surviv") {
			return "", "", false
		}
		explicit := reConvenience.MatchString(s)
		onNotice := reOnNotice.MatchString(s) && !reConditional.MatchString(s)
		if !explicit && !onNotice {
			return "", "", false
		}
		v := ""
		if d, ok := durationBefore(s, durs, "notice"); ok {
			v = d.Normal()
		}
		return v, quote(s), true
	}},
	{FactTerminationNotice, false, []string{"terminat"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !terminatesAgreement(s) || reRenew.MatchString(s) || !reThisAgreement.MatchString(s) {
			return "", "", false
		}
		d, ok := durationBefore(s, durs, "notice")
		if !ok || (d.Unit != "day" && d.Unit != "month" && d.Unit != "week") {
			return "", "", false
		}
		return d.Normal(), quote(s), true
	}},
	{FactCurePeriod, false, []string{"cure", "remed"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "cure", "remed") || !hasAny(ls, "breach", "default", "fail") {
			return "", "", false
		}
		for _, d := range durs {
			if d.Unit != "day" && d.Unit != "week" && d.Unit != "month" {
				continue
			}
			near := s[max(0, d.Pos-80):min(len(s), d.Pos+len(d.Text)+80)]
			if reCure.MatchString(near) {
				return d.Normal(), withQuote("a breach may be cured within "+durationText(d)+".", s), true
			}
		}
		return "", "", false
	}},
	{FactPaymentTerms, false, []string{"pay", "invoice", "remit"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "pay", "invoice", "remit") || hasAny(ls, "terminat", "renew", "notice of", "cure", "breach") {
			return "", "", false
		}
		for _, d := range durs {
			if d.Unit != "day" {
				continue
			}
			before := strings.ToLower(s[max(0, d.Pos-25):d.Pos])
			around := strings.ToLower(s[max(0, d.Pos-120):min(len(s), d.Pos+len(d.Text)+80)])
			if hasAny(before, "within", "net", "no later than", "not later than", "not more than") && hasAny(around, "invoice", "receipt", "pay", "due") {
				return d.Normal(), quote(s), true
			}
		}
		return "", "", false
	}},
	{FactLiabilityCap, false, []string{"liab", "exceed", "remedy"}, extractive(func(s, ls string) bool {
		return (strings.Contains(ls, "liab") || reCapOther.MatchString(s)) && reCap.MatchString(s) && !reForceMajeure.MatchString(s) && !hasAny(ls, "beyond its reasonable control", "beyond the reasonable control", "insurance", "indemnify")
	})},
	{FactConsequential, false, []string{"damage", "profit"}, extractive(func(s, ls string) bool {
		// a waiver of punitive or exemplary damages alone excludes no
		// consequential or indirect loss
		consequential := false
		for _, k := range reDamagesKinds.FindAllString(s, -1) {
			consequential = consequential || reConsequentialKind.MatchString(k)
		}
		return consequential && reNoLiability.MatchString(s) && !hasAny(ls, "indemnify", "hold harmless")
	})},
	{FactLiquidatedDamages, false, []string{"liquidated", "fee", "payment", "charge"}, extractive(func(s, ls string) bool {
		// "neither party shall have a liability for ... liquidated damages"
		// excludes them
		return reLiquidated.MatchString(s) && !reNoLiability.MatchString(s) && !reNeitherLiable.MatchString(s)
	})},
	{FactInsurance, false, []string{"insur", "liability coverage"}, extractive(func(s, ls string) bool {
		named := reAdditionalInsured.MatchString(s) && (reCoverage.MatchString(s) || reCurrency.MatchString(s)) && !rePointsBack.MatchString(s)
		return (reInsurance.MatchString(s) || named) && !reDefinition.MatchString(s)
	})},
	{FactConfidentiality, false, []string{"confiden"}, func(s, ls string, durs []Duration) (string, string, bool) {
		if !(committed(reConfidential, s) || reCareStandard.MatchString(s) || reProtectSecret.MatchString(s)) ||
			reNotObliged.MatchString(s) {
			return "", "", false // "neither Party shall be obligated to preserve the confidentiality of ..." is an exception
		}
		v := ""
		for _, d := range durs {
			near := strings.ToLower(s[max(0, d.Pos-60):min(len(s), d.Pos+len(d.Text)+60)])
			if (d.Unit == "year" || d.Unit == "month") && hasAny(near, "for a period", "after", "following", "surviv", "from the date") {
				v = d.Normal()
				break
			}
		}
		return v, quote(s), true
	}},
	{FactAssignment, false, []string{"assign"}, extractive(func(s, ls string) bool {
		return (reAssignActive.MatchString(s) || reAssignPassive.MatchString(s)) && reAssignLimit.MatchString(s) && !reAssignNot.MatchString(s)
	})},
	{FactAuditRights, false, []string{"audit", "inspect", "examin", "access to"}, extractive(func(s, ls string) bool {
		return reAudit.MatchString(s) && reAuditObject.MatchString(s) && reAuditRight.MatchString(s) && !reDefinition.MatchString(s)
	})},
	{FactIndemnification, false, []string{"indemn", "harmless"}, extractive(func(s, ls string) bool {
		return reIndemnify.MatchString(s) && !reDefinition.MatchString(s)
	})},
	{FactNonCompete, false, []string{"compet", "similar", "identical", "other than"}, extractive(func(s, ls string) bool {
		if !reProhibit.MatchString(s) || reNotCovenant.MatchString(s) || reSolicit.MatchString(s) || hasAny(ls, "from granting", "granting any right") {
			return false
		}
		return (hasAny(ls, "non-compet", "noncompet", "covenant not to compete") || reCompete.MatchString(s) || reCompeteActivity.MatchString(s)) && rePeriod.MatchString(s)
	})},
	{FactNonSolicit, false, []string{"solicit", "hire", "hiring", "employ", "recruit", "induce", "entice", "engage"}, extractive(func(s, ls string) bool {
		return reSolicit.MatchString(s) && reProhibit.MatchString(s) && !strings.Contains(ls, "solicitor") && !hasAny(ls, "not preclude", "not prevent", "not prohibit", "not restrict", "not apply to", "not limit")
	})},
	{FactExclusivity, false, []string{"exclusiv", "solely", "other than"}, extractive(func(s, ls string) bool {
		if reExclusiveDealing.MatchString(s) && reProhibit.MatchString(s) {
			return true // "shall not sell ... products (other than the Products)"
		}
		return reExclusiveGrant.MatchString(s) && !reExclusiveNot.MatchString(s)
	})},
	{FactForceMajeure, false, []string{"force majeure", "act of god", "acts of god"}, extractive(func(s, ls string) bool {
		return reForceMajeure.MatchString(s) && reFMEffect.MatchString(s) && !hasAny(ls, "other than an event of force majeure", "other than force majeure", "other than a force majeure")
	})},
	{FactNotices, false, []string{"notice", "communication"}, extractive(func(s, ls string) bool {
		return reNotices.MatchString(s)
	})},
}

// committed reports whether re matches s as a party's commitment, not as
// an infinitive ("requiring the recipients ... to agree to keep such
// information confidential" states a reason, not a duty).
func committed(re *regexp.Regexp, s string) bool {
	for _, m := range re.FindAllStringIndex(s, -1) {
		if !strings.HasSuffix(strings.ToLower(s[:m[0]]), "to ") {
			return true
		}
	}
	return false
}

var (
	// reAnyParty: either party may give the notice.
	reAnyParty = re(`\b(?:either|any|each|one|a|neither)\s+part(?:y|ies)\b`)
	// reOneGiver names the one party whose notice prevents renewal:
	// "unless the Company provides 90 days' notice".
	reOneGiver = regexp.MustCompile(`\b(?i:unless|if)\s+((?:(?i:the)\s+)?(?:[A-Z][\w&.'’\-]*\s+){0,3}?[A-Z][\w&.'’\-]*)\s+(?:(?i:shall|will|must|elects? to)\s+)?(?i:gives?|provides?|delivers?|sends?|serves?|notif(?:y|ies))\b`)
)

// renewalNoticeGiver says who must give the notice that prevents renewal:
// "a party" when either may, the party named when only one may ("the
// Company"), "" when the sentence does not say.
func renewalNoticeGiver(s string) string {
	if m := reOneGiver.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	if reAnyParty.MatchString(s) {
		return "a party"
	}
	return ""
}

// terminatesAgreement reports whether s gives a right to terminate this
// agreement: "may terminate" whose object, if it names one, is the
// agreement ("this Agreement", "this NDA", "its involvement with this
// Agreement"), or "may be terminated" said of the agreement; not a right
// to end a Scope of Work, an order or a licence while the agreement stays.
func terminatesAgreement(s string) bool {
	if reKeepsAgreement.MatchString(s) {
		return false
	}
	isAgreement := func(t string) bool {
		lt := strings.ToLower(t)
		return reThisAgreement.MatchString(t) || hasAny(lt, "agreement", "contract") || strings.HasPrefix(lt, "this ")
	}
	for _, loc := range reMayTerminate.FindAllStringIndex(s, -1) {
		if strings.HasSuffix(strings.ToLower(s[:loc[1]]), "terminated") {
			if isAgreement(s[max(0, loc[0]-80):loc[0]]) {
				return true // "This Agreement may be terminated by ..."
			}
			continue
		}
		object := s[loc[1]:min(len(s), loc[1]+100)]
		if end := reObjectEnd.FindStringIndex(object); end != nil {
			object = object[:end[0]]
		}
		if object = strings.TrimSpace(object); object == "" || isAgreement(object) {
			return true
		}
	}
	return false
}

// durationBefore returns the first duration that the word follows closely
// ("thirty (30) days' prior written notice").
func durationBefore(s string, durs []Duration, word string) (Duration, bool) {
	for _, d := range durs {
		after := strings.ToLower(s[d.Pos+len(d.Text) : min(len(s), d.Pos+len(d.Text)+30)])
		if strings.Contains(after, word) {
			return d, true
		}
	}
	return Duration{}, false
}
