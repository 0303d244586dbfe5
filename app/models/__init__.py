"""Domain models. FAB's `Model` base keeps them in the same metadata as the security tables."""
from .org import OrgKind, OrgState, Org, Region  # noqa: F401
from .account import Account, CaptchaChallenge, Membership, MembershipState, Person, RoleName, LoginThrottle  # noqa: F401,E501
from .registration import Registration, RegistrationState  # noqa: F401
from .audit import AuditLog  # noqa: F401
from .hours import (AnnualStandard, Attachment, BaseReport, BaseReportLine, BaseReportState, Certificate,  # noqa: F401
                    Declaration, DeclarationState, HourRecord, LearningForm, Subject, YearSummary)
from .changes import (CHANGE_STATE_LABELS, ChangeAttachment, ChangeState, IdentityCorrection, OrgChange,  # noqa: F401
                      OrgChangeState, OrgRole, TitleChange, Transfer, TransferState)
from .imports import ImportBatch, ImportMode, ImportState  # noqa: F401
from .exports import ExportJob, ExportState  # noqa: F401  (issue 13: exports through the task queue)
from .rollup import CompletionOrg, CompletionOrgYear, CompletionRollup, CompletionStandard, CompletionUnit  # noqa: F401
from .tally import StaffTally, StaffTallySnapshot, StaffTallyYear  # noqa: F401
from .learning import (SPECIALTIES, ClassCourse, ClassOrder, ClassSection, ClassState, Enrolment,  # noqa: F401
                       EnrolmentState, Lesson, LessonProgress, OnlineClass, OrderState, PaymentNotice, Question,
                       QuestionKind, QuizAttempt, SectionProgress, SectionState)
from .base_plans import BaseFiling, FilingKind, FilingState  # noqa: F401  (issue 11: B1 plans and reports)
from .notifications import (CompletionReminder, EmailState, Notification, NotificationKind,  # noqa: F401
                            NotificationPref, ReminderSetting, ReviewWait)
from .api import ApiRefreshToken  # noqa: F401  (issue 12: REST API refresh tokens)
from .delegation import DELEGATION_STATUS_LABELS, Delegation, DelegationState  # noqa: F401  (issue 12: X9)
